output "storage_map" {
  description = "The storage map's queue, topic and bus sections (PLUGHOST_STORAGE): how the function finds a label from the ARN an event names."
  value = {
    queue = { for label, queue in aws_sqs_queue.this : label => { sqs = { arn = queue.arn, url = queue.url } } }
    topic = { for label, topic in aws_sns_topic.this : label => { sns = { arn = topic.arn } } }
    bus   = { for label, bus in aws_cloudwatch_event_bus.this : label => { eventbridge = { name = bus.name } } }
  }
}

output "queue_arns" {
  description = "label -> queue ARN."
  value       = { for label, queue in aws_sqs_queue.this : label => queue.arn }
}

output "dead_letter_queue_urls" {
  description = "label -> the URL of its dead-letter queue (inspect and redrive failed messages)."
  value       = { for label, queue in aws_sqs_queue.dead_letters : label => queue.url }
}

output "topic_arns" {
  description = "label -> topic ARN."
  value       = { for label, topic in aws_sns_topic.this : label => topic.arn }
}

output "bus_names" {
  description = "label -> event bus name."
  value       = { for label, bus in aws_cloudwatch_event_bus.this : label => bus.name }
}

output "queues" {
  description = "The queues (for tests)."
  value       = aws_sqs_queue.this
}

output "send_policy_statements" {
  description = "The function's send, publish and put permissions (for tests)."
  value       = local.send_statements
}

output "subscriptions" {
  description = "queue/topic -> the SNS subscription delivering the topic's notifications to the queue."
  value       = aws_sns_topic_subscription.queues
}
