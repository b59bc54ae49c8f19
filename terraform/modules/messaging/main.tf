# The event sources plugins consume (and, later, publish to): one SQS queue with its
# dead-letter queue per [queue.<label>], one SNS topic per [topic.<label>], one custom
# EventBridge bus per [bus.<label>]. Wiring them to the function is the triggers module.

resource "aws_sqs_queue" "dead_letters" {
  for_each                  = var.queues
  name                      = "${var.name}-${each.key}-dlq"
  message_retention_seconds = 1209600 # 14 days, SQS's longest: time to look and redrive
  kms_master_key_id         = var.kms_key_arn
  tags                      = var.tags
}

resource "aws_sqs_queue" "this" {
  for_each          = var.queues
  name              = "${var.name}-${each.key}"
  kms_master_key_id = var.kms_key_arn
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
