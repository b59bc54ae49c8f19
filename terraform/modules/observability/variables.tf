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
