variable "name" {
  description = "Name prefix; the role is <name>-lambda."
  type        = string
}

variable "function_name" {
  description = "The Lambda function's name: its log group /aws/lambda/<name> is the only one it may write."
  type        = string
}

variable "kms_key_arn" {
  description = "The key encrypting the buckets and the table."
  type        = string
}

variable "kv_table_arn" {
  description = "The kv table; the role may use it and its indexes, nothing else in DynamoDB."
  type        = string
}

variable "deployments_bucket_arn" {
  description = "The bucket with the manifest, components and compiled artifacts."
  type        = string
}

variable "deployment_prefix" {
  description = "The folder of the manifest in the deployments bucket (\"\" or ending in /): reads are limited to it, writes to its compiled/ folder."
  type        = string
  default     = ""
}

variable "data_bucket_arn" {
  description = "The bucket of the plugins' blob containers."
  type        = string
}

variable "blob_prefixes" {
  description = "The data bucket prefixes (one per blob container) the function may read and write."
  type        = list(string)
  default     = []
}

variable "secrets_prefix" {
  description = "Secrets Manager name prefix plugins' secret config values come from (null: no access)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
