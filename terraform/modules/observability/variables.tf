variable "name" {
  description = "Name prefix of the topic, alarms and dashboard."
  type        = string
}

variable "function_name" {
  description = "The Lambda function watched."
  type        = string
}

variable "timeout_seconds" {
  description = "The function's timeout: the p99 duration alarm fires at 80% of it."
  type        = number
}

variable "api_id" {
  description = "The HTTP API watched for 5xx answers."
  type        = string
}

variable "plugins" {
  description = "Every plugin of the manifest (`plughost tfvars`): id -> { timeout_ms }. Each gets a dashboard row and alarms on its error rate and its p99 duration (at 80% of its timeout)."
  type = map(object({
    timeout_ms = number
  }))
  default = {}
}

variable "plugin_error_rate_percent" {
  description = "A plugin's error alarm fires when more than this percentage of its invocations failed over 5 minutes (with at least `plugin_error_min_invocations` of them)."
  type        = number
  default     = 5
}

variable "plugin_error_min_invocations" {
  description = "Invocations a plugin needs in 5 minutes before its error rate can alarm (one failure of two requests is no outage)."
  type        = number
  default     = 10
}

variable "kms_key_arn" {
  description = "Key encrypting the alarm topic."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each must confirm)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
