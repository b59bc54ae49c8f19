variable "name" {
  description = "Name prefix of every queue, topic and bus."
  type        = string
}

variable "kms_key_arn" {
  description = "The key encrypting queues and topics."
  type        = string
}

variable "queues" {
  description = "The manifest's [queue.<label>] sections: label -> delivery rules. A queue gets a dead-letter queue that keeps what failed max_receives times."
  type = map(object({
    max_receives               = optional(number, 5)
    visibility_timeout_seconds = optional(number, 30)
  }))
  default = {}
}

variable "topics" {
  description = "The manifest's [topic.<label>] labels."
  type        = set(string)
  default     = []
}

variable "buses" {
  description = "The manifest's [bus.<label>] labels: each a custom EventBridge bus."
  type        = set(string)
  default     = []
}

variable "min_visibility_timeout_seconds" {
  description = "The function's timeout: Lambda refuses a queue whose visibility timeout is shorter."
  type        = number
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
