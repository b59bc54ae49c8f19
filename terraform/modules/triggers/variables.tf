variable "name" {
  description = "Name prefix of rules, mappings and the stream failures queue."
  type        = string
}

variable "function_name" {
  description = "The plughost function every trigger invokes."
  type        = string
}

variable "function_arn" {
  description = "The function's ARN."
  type        = string
}

variable "role_name" {
  description = "The function's role: gains exactly what consuming these sources needs."
  type        = string
}

variable "kms_key_arn" {
  description = "The key encrypting the stream failures queue."
  type        = string
}

variable "triggers" {
  description = <<-EOT
    Every plugin's `events = [...]`, as in the manifest, each with its plugin: exactly one of
    schedule (+ name), object (+ on, prefix, suffix), queue (+ batch), topic, changes (+ prefix),
    bus (+ pattern, JSON). `plughost tfvars <manifest>` prints it for a manifest.
  EOT
  type = list(object({
    plugin   = string
    schedule = optional(string)
    name     = optional(string)
    object   = optional(string)
    on       = optional(list(string))
    prefix   = optional(string)
    suffix   = optional(string)
    queue    = optional(string)
    batch    = optional(number, 10)
    topic    = optional(string)
    changes  = optional(string)
    bus      = optional(string)
    pattern  = optional(string)
  }))
  default = []
  validation {
    condition = alltrue([for t in var.triggers : length(compact([
      t.schedule, t.object, t.queue, t.topic, t.changes, t.bus,
    ])) == 1])
    error_message = "each trigger names exactly one of schedule, object, queue, topic, changes, bus."
  }
  validation {
    condition     = alltrue([for t in var.triggers : t.schedule == null || t.name != null])
    error_message = "a schedule trigger needs its name."
  }
  validation {
    condition     = alltrue([for t in var.triggers : t.bus == null || t.pattern != null])
    error_message = "a bus trigger needs its pattern (JSON)."
  }
}

variable "queue_arns" {
  description = "Queue label -> ARN (messaging module)."
  type        = map(string)
  default     = {}
}

variable "topic_arns" {
  description = "Topic label -> ARN (messaging module)."
  type        = map(string)
  default     = {}
}

variable "bus_names" {
  description = "Bus label -> event bus name (messaging module)."
  type        = map(string)
  default     = {}
}

variable "data_bucket" {
  description = "The bucket of the blob containers (object triggers notify from it)."
  type        = string
}

variable "data_bucket_arn" {
  description = "Its ARN."
  type        = string
}

variable "blob_containers" {
  description = "Container label -> prefix in the data bucket."
  type        = map(string)
  default     = {}
}

variable "kv_stream_arn" {
  description = "The kv table's stream (NEW_AND_OLD_IMAGES)."
  type        = string
}

variable "kv_stores" {
  description = "Store label -> prefix (namespace) in the kv table."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
