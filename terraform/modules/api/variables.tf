variable "name" {
  description = "The API's name."
  type        = string
}

variable "function_name" {
  description = "The Lambda function every route goes to."
  type        = string
}

variable "invoke_arn" {
  description = "The function's invoke ARN."
  type        = string
}

variable "throttling_burst_limit" {
  description = "Stage-wide burst limit (requests)."
  type        = number
  default     = 200
}

variable "throttling_rate_limit" {
  description = "Stage-wide steady rate limit (requests per second)."
  type        = number
  default     = 100
}

variable "log_retention_days" {
  description = "How long access logs are kept."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "Key encrypting the access log group."
  type        = string
}

variable "jwt_issuer" {
  description = "Issuer of the JWTs the API requires (null: no authorizer, plugins authenticate)."
  type        = string
  default     = null
}

variable "jwt_audience" {
  description = "Accepted JWT audiences (with jwt_issuer)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
