output "policy_statements" {
  description = "What the function's role gains for consuming the triggers' sources (for tests)."
  value       = local.policy_statements
}

output "schedule_rules" {
  description = "plugin.schedule -> its EventBridge rule name."
  value       = { for key, rule in aws_cloudwatch_event_rule.schedule : key => rule.name }
}

output "schedule_targets" {
  description = "The schedule targets (for tests)."
  value       = aws_cloudwatch_event_target.schedule
}

output "bus_targets" {
  description = "The bus rule targets (for tests)."
  value       = aws_cloudwatch_event_target.bus
}

output "queue_mappings" {
  description = "The queue event source mappings (for tests)."
  value       = aws_lambda_event_source_mapping.queue
}

output "changes_mapping" {
  description = "The kv stream's event source mapping, if any (for tests)."
  value       = aws_lambda_event_source_mapping.changes
}

output "object_notification" {
  description = "The data bucket's notification, if any (for tests)."
  value       = aws_s3_bucket_notification.objects
}
