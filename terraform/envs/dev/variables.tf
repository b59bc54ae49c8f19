variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of the stack; prefixes every resource."
  type        = string
  default     = "plughost-dev"
}

variable "package_path" {
  description = "The Lambda zip from `make package` (bootstrap = the plughost binary)."
  type        = string
  default     = "../../../target/lambda/plughost/bootstrap.zip"
}

variable "architecture" {
  description = "x86_64 or arm64, matching the package."
  type        = string
  default     = "x86_64"
  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64 (the package's binary)."
  }
}

variable "memory_mb" {
  description = "Lambda memory in MB."
  type        = number
  default     = 512
}

variable "timeout_seconds" {
  description = "Lambda timeout; keep it above the largest plugin timeout."
  type        = number
  default     = 10
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions (-1: none)."
  type        = number
  default     = -1
}

variable "deployment_prefix" {
  description = "Folder of the manifest in the deployments bucket (\"\" or ending in /)."
  type        = string
  default     = ""
}

variable "kv_stores" {
  description = "kv store label -> key prefix in the kv table: every store the manifest declares."
  type        = map(string)
  default = {
    users  = "users", products = "products", activity = "activity", orders = "orders", notifications = "notifications",
    latest = "latest", upload-meta = "upload-meta"
  }
}

variable "blob_containers" {
  description = "blob container label -> prefix in the data bucket: every container the manifest declares."
  type        = map(string)
  default     = { images = "images", uploads = "uploads" }
}

# Event sources and triggers: the manifest's [queue.*], [topic.*], [bus.*] sections and
# every plugin's `events = [...]`. `plughost tfvars plughost.toml` prints these values (make deploy uses them).

variable "queues" {
  description = "The manifest's [queue.<label>] sections: label -> { max_receives, visibility_timeout_seconds, fifo, topics }."
  type = map(object({
    max_receives               = optional(number, 5)
    visibility_timeout_seconds = optional(number, 30)
    fifo                       = optional(bool, false)
    topics                     = optional(list(string), [])
  }))
  default = {
    jobs          = { max_receives = 3 }
    orders        = { max_receives = 3, visibility_timeout_seconds = 5 }
    "order-audit" = { topics = ["order-events"] }
  }
}

variable "topics" {
  description = "The manifest's [topic.<label>] labels."
  type        = set(string)
  default     = ["alerts", "order-events"]
}

variable "sends" {
  description = "The labels plugins are granted to send to, publish on and put on (`queue`/`topic`/`bus` grants): the function may reach exactly these."
  type = object({
    queues = optional(set(string), [])
    topics = optional(set(string), [])
    buses  = optional(set(string), [])
  })
  default = { queues = ["orders"], topics = ["order-events"], buses = ["app"] }
}

variable "buses" {
  description = "The manifest's [bus.<label>] labels."
  type        = set(string)
  default     = ["app"]
}

variable "plugins" {
  description = "Every plugin of the manifest: id -> { timeout_ms } (`plughost tfvars`). Each gets a dashboard row and alarms (modules/observability)."
  type = map(object({
    timeout_ms = number
  }))
  default = {
    hello    = { timeout_ms = 5000 }, pricing = { timeout_ms = 2000 }, rates = { timeout_ms = 3000 },
    checkout = { timeout_ms = 5000 }, users = { timeout_ms = 5000 }, products = { timeout_ms = 5000 },
    activity = { timeout_ms = 5000 }, orders = { timeout_ms = 5000 }, order-worker = { timeout_ms = 5000 },
    notifier = { timeout_ms = 5000 }, upload-processor = { timeout_ms = 5000 }, latest-object = { timeout_ms = 5000 },
  }
}

variable "triggers" {
  description = "Every plugin's triggers (see modules/triggers): { plugin, and one of schedule+name, object, queue, topic, changes, bus+pattern }."
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
  default = [
    { plugin = "activity", schedule = "rate(1 minute)", name = "heartbeat" },
    { plugin = "activity", object = "images", on = ["created", "removed"] },
    { plugin = "activity", changes = "products" },
    { plugin = "activity", queue = "jobs", batch = 10 },
    { plugin = "activity", topic = "alerts" },
    { plugin = "activity", bus = "app", pattern = "{\"source\":[\"shop\"]}" },
    { plugin = "activity", queue = "order-audit", batch = 10 },
    { plugin = "order-worker", queue = "orders", batch = 10 },
    { plugin = "notifier", bus = "app", pattern = "{\"detail-type\":[\"OrderProcessed\"],\"source\":[\"shop.orders\"]}" },
    { plugin = "upload-processor", object = "uploads", on = ["created"] },
    { plugin = "latest-object", object = "uploads", on = ["created"] },
    { plugin = "latest-object", schedule = "rate(1 hour)", name = "expire" },
  ]
  validation {
    condition = alltrue([for t in var.triggers : length(compact([
      t.schedule, t.object, t.queue, t.topic, t.changes, t.bus,
    ])) == 1])
    error_message = "each trigger names exactly one of schedule, object, queue, topic, changes, bus."
  }
}

variable "refresh" {
  description = "How often a warm instance checks for a new manifest (PLUGHOST_REFRESH)."
  type        = string
  default     = "2s"
}

variable "compile" {
  description = "eager or lazy (PLUGHOST_COMPILE)."
  type        = string
  default     = "eager"
  validation {
    condition     = contains(["eager", "lazy"], var.compile)
    error_message = "compile must be eager or lazy."
  }
}

variable "artifact_key" {
  description = "Signs compiled components shared through the deployments bucket (>= 32 characters; null: not shared)."
  type        = string
  default     = null
  sensitive   = true
  validation {
    condition     = var.artifact_key == null ? true : length(var.artifact_key) >= 32
    error_message = "artifact_key must be at least 32 characters (it signs native code)."
  }
}

variable "secrets_prefix" {
  description = "Secrets Manager name prefix for plugins' secret config values (null: none)."
  type        = string
  default     = null
}

variable "alarm_emails" {
  description = "Addresses notified by the alarms."
  type        = list(string)
  default     = []
}

variable "jwt_issuer" {
  description = "Require JWTs from this issuer at the API (null: plugins authenticate)."
  type        = string
  default     = null
}

variable "jwt_audience" {
  description = "Accepted JWT audiences."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Retention of function and access logs."
  type        = number
  default     = 365
}

variable "force_destroy" {
  description = "Let destroy delete non-empty buckets (dev/test only)."
  type        = bool
  default     = true
}

variable "aws_endpoint" {
  description = "An AWS-compatible endpoint for every service (tests: the local moto server); null for AWS."
  type        = string
  default     = null
}

variable "workflows" {
  description = "Step Functions workflows whose steps are plugins' tasks (see modules/workflows): name -> { steps = [{ name, plugin, catch }] }."
  type = map(object({
    steps = list(object({
      name   = string
      plugin = string
      catch  = optional(list(string), [])
    }))
  }))
  default = {
    orders = {
      steps = [
        { name = "Validate", plugin = "orders", catch = ["OrderRejected"] },
        { name = "Process", plugin = "order-worker", catch = ["OrderFailed"] },
        { name = "Notify", plugin = "notifier" },
      ]
    }
  }
}
