output "alarm_topic_arn" {
  description = "The SNS topic alarms notify."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard" {
  description = "The CloudWatch dashboard's name."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
