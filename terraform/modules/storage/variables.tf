variable "name" {
  description = "Name prefix of every resource (e.g. plughost-dev)."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object version is kept before S3 expires it (rollback window for manifests; components are never overwritten)."
  type        = number
  default     = 30
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the customer-managed KMS key is deleted after destroy."
  type        = number
  default     = 30
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete non-empty buckets (dev and test stacks only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
