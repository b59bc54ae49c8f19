# The queues, topics and buses of the manifest: one SQS queue with its dead-letter queue
# per [queue.<label>] (FIFO when it says `fifo = true`), subscribed to the topics its
# `topics` names; one SNS topic per [topic.<label>]; one custom EventBridge bus per
# [bus.<label>]; and the function's permission to send, publish and put to exactly the
# labels plugins are granted. Wiring the sources to the function is the triggers module.

locals {
  # A FIFO queue's name must end in `.fifo`.
  queue_names = { for label, queue in var.queues : label => "${var.name}-${label}${queue.fifo ? ".fifo" : ""}" }
  dead_letter_names = {
    for label, queue in var.queues : label => "${var.name}-${label}-dlq${queue.fifo ? ".fifo" : ""}"
  }
  # (queue, topic) for every subscription a queue's `topics` declares.
  subscriptions = merge([
    for label, queue in var.queues : { for topic in queue.topics : "${label}/${topic}" => { queue = label, topic = topic } }
  ]...)
  subscribed_queues = toset([for s in local.subscriptions : s.queue])
}

resource "aws_sqs_queue" "dead_letters" {
  for_each                  = var.queues
  name                      = local.dead_letter_names[each.key]
  fifo_queue                = each.value.fifo ? true : null
  message_retention_seconds = 1209600 # 14 days, SQS's longest: time to look and redrive
  kms_master_key_id         = var.kms_key_arn
  tags                      = var.tags
}

resource "aws_sqs_queue" "this" {
  for_each          = var.queues
  name              = local.queue_names[each.key]
  fifo_queue        = each.value.fifo ? true : null
  kms_master_key_id = var.kms_key_arn
  # Plugins may leave out the deduplication id: the body's hash is used, as the host
  # does for the embedded queue.
  content_based_deduplication = each.value.fifo ? true : null
  # Lambda requires at least the function's timeout; a message a plugin is still
  # handling must not become visible to another instance.
  visibility_timeout_seconds = max(each.value.visibility_timeout_seconds, var.min_visibility_timeout_seconds)
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letters[each.key].arn
    maxReceiveCount     = each.value.max_receives
  })
  tags = var.tags
}

resource "aws_sns_topic" "this" {
  for_each          = var.topics
  name              = "${var.name}-${each.key}"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_event_bus" "this" {
  for_each = var.buses
  name     = "${var.name}-${each.key}"
  tags     = var.tags
}

# A queue's `topics`: raw delivery, so the queue's consumer receives the body the plugin
# published (as the embedded topic does), not SNS's JSON envelope.
resource "aws_sns_topic_subscription" "queues" {
  for_each             = local.subscriptions
  topic_arn            = aws_sns_topic.this[each.value.topic].arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.this[each.value.queue].arn
  raw_message_delivery = true
}

# Only the queue's own topics may send to it.
resource "aws_sqs_queue_policy" "subscribed" {
  for_each  = local.subscribed_queues
  queue_url = aws_sqs_queue.this[each.key].url
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TopicsDeliver"
      Effect    = "Allow"
      Principal = { Service = "sns.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.this[each.key].arn
      Condition = {
        ArnEquals = { "aws:SourceArn" = [for topic in var.queues[each.key].topics : aws_sns_topic.this[topic].arn] }
      }
    }]
  })
}

locals {
  send_statements = concat(
    length(var.sends.queues) == 0 ? [] : [{
      Sid      = "SendToGrantedQueues"
      Effect   = "Allow"
      Action   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
      Resource = [for label in sort(tolist(var.sends.queues)) : aws_sqs_queue.this[label].arn]
    }],
    length(var.sends.topics) == 0 ? [] : [{
      Sid      = "PublishToGrantedTopics"
      Effect   = "Allow"
      Action   = ["sns:Publish"]
      Resource = [for label in sort(tolist(var.sends.topics)) : aws_sns_topic.this[label].arn]
    }],
    length(var.sends.buses) == 0 ? [] : [{
      Sid      = "PutOnGrantedBuses"
      Effect   = "Allow"
      Action   = ["events:PutEvents"]
      Resource = [for label in sort(tolist(var.sends.buses)) : aws_cloudwatch_event_bus.this[label].arn]
    }],
  )
}

resource "aws_iam_role_policy" "send" {
  count  = length(local.send_statements) == 0 ? 0 : 1
  name   = "${var.name}-send"
  role   = var.role_name
  policy = jsonencode({ Version = "2012-10-17", Statement = local.send_statements })
}
