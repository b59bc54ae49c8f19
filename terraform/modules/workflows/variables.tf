variable "name" {
  description = "Name prefix of the state machines, their role and log group."
  type        = string
}

variable "function_arn" {
  description = "The plughost function every step invokes."
  type        = string
}

variable "kms_key_arn" {
  description = "The key encrypting the execution log group."
  type        = string
}

variable "log_retention_days" {
  description = "How long execution logs are kept."
  type        = number
  default     = 30
}

variable "workflows" {
  description = "name -> steps, in order: each { name (the state's), plugin (whose task export runs), catch (error names that end the workflow in its Rejected state) }; retry_errors are retried max_attempts times with backoff."
  type = map(object({
    steps = list(object({
      name   = string
      plugin = string
      catch  = optional(list(string), [])
    }))
    retry_errors = optional(list(string), [
      "plughost.Timeout", "plughost.AtCapacity",
      "Lambda.TooManyRequestsException", "Lambda.ServiceException", "Lambda.SdkClientException",
    ])
    max_attempts = optional(number, 3)
  }))
  default = {}
  validation {
    condition     = alltrue([for w in var.workflows : length(w.steps) > 0])
    error_message = "a workflow has at least one step."
  }
  validation {
    condition     = alltrue(flatten([for w in var.workflows : [for s in w.steps : s.name != "Rejected"]]))
    error_message = "`Rejected` is the workflows' failure state: name the steps otherwise."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
