variable "name" {
  description = "The function's name."
  type        = string
}

variable "package_path" {
  description = "The Lambda zip holding the plughost binary as `bootstrap` (`make package`)."
  type        = string
}

variable "architecture" {
  description = "x86_64 or arm64; must match the binary in the package."
  type        = string
  default     = "x86_64"
  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "memory_mb" {
  description = "Memory (and with it CPU) of the function."
  type        = number
  default     = 512
}

variable "timeout_seconds" {
  description = "The invocation timeout; plughost answers 504 250 ms before it."
  type        = number
  default     = 10
}

variable "reserved_concurrency" {
  description = "Concurrent executions reserved (and capped) for the function; -1 for no reservation."
  type        = number
  default     = -1
}

variable "role_arn" {
  description = "The execution role (iam module)."
  type        = string
}

variable "environment" {
  description = "Environment variables: PLUGHOST_MANIFEST, PLUGHOST_STORAGE, PLUGHOST_REFRESH, limits (see the README)."
  type        = map(string)
}

variable "log_retention_days" {
  description = "How long the function's logs are kept."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "Key encrypting the log group and the environment variables."
  type        = string
}

variable "deployments_bucket" {
  description = "The deployments bucket: writing its manifest invokes the function for an immediate hot swap."
  type        = string
}

variable "deployments_bucket_arn" {
  description = "ARN of the deployments bucket."
  type        = string
}

variable "manifest_key" {
  description = "The manifest's key in the deployments bucket."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
