output "api_url" {
  description = "Where clients send requests."
  value       = module.api.url
}

output "plughost_manifest" {
  description = "The deployment, for `plughost deploy|push|status|rollback --manifest` (or PLUGHOST_MANIFEST)."
  value       = "s3://${module.storage.deployments_bucket}/${local.manifest_key}"
}

output "function_name" {
  description = "The Lambda function (logs: /aws/lambda/<name>)."
  value       = module.lambda.function_name
}

output "kv_table" {
  description = "The DynamoDB table of the kv stores."
  value       = module.storage.kv_table
}

output "data_bucket" {
  description = "The bucket of the blob containers."
  value       = module.storage.data_bucket
}

output "alarm_topic_arn" {
  description = "Subscribe here to receive alarms."
  value       = module.observability.alarm_topic_arn
}

output "dashboard" {
  description = "The CloudWatch dashboard."
  value       = module.observability.dashboard
}

output "lambda_environment" {
  description = "The function's environment (the artifact key is not shown)."
  value       = local.public_environment
}

output "dead_letter_queues" {
  description = "Queue label -> its dead-letter queue's URL (messages that failed max_receives times)."
  value       = module.messaging.dead_letter_queue_urls
}

output "schedule_rules" {
  description = "plugin.schedule -> the EventBridge rule that fires it."
  value       = module.triggers.schedule_rules
}

output "state_machine_arns" {
  description = "Workflow name -> state machine ARN: `aws stepfunctions start-execution --state-machine-arn <arn> --input <json>`."
  value       = module.workflows.state_machine_arns
}
