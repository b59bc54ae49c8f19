variable "name" {
  description = "Name prefix of every queue, topic and bus."
  type        = string
}

variable "kms_key_arn" {
  description = "The key encrypting queues and topics."
  type        = string
}

variable "queues" {
  description = "The manifest's [queue.<label>] sections: label -> delivery rules (max_receives, visibility timeout, fifo, the topics it is subscribed to). A queue gets a dead-letter queue that keeps what failed max_receives times."
  type = map(object({
    max_receives               = optional(number, 5)
    visibility_timeout_seconds = optional(number, 30)
    fifo                       = optional(bool, false)
    topics                     = optional(list(string), [])
  }))
  default = {}
  validation {
    condition     = alltrue([for q in var.queues : !q.fifo || length(q.topics) == 0])
    error_message = "a FIFO queue cannot subscribe to a standard topic."
  }
}

variable "sends" {
  description = "The labels plugins are granted to send to (queue = { l = \"send\" }), publish on (topic) and put on (bus): the function may reach exactly these."
  type = object({
    queues = optional(set(string), [])
    topics = optional(set(string), [])
    buses  = optional(set(string), [])
  })
  default = {}
}

variable "role_name" {
  description = "The function's role, which gets the send/publish/put permissions."
  type        = string
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
