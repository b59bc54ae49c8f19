output "alarm_topic_arn" {
  description = "The SNS topic alarms notify."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard" {
  description = "The CloudWatch dashboard's name."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "plugin_alarms" {
  description = "Per plugin: the names of its error-rate and p99-duration alarms."
  value = { for id in keys(var.plugins) : id => {
    error_rate   = aws_cloudwatch_metric_alarm.plugin_error_rate[id].alarm_name
    duration_p99 = aws_cloudwatch_metric_alarm.plugin_duration_p99[id].alarm_name
  } }
}

output "plugin_p99_thresholds_ms" {
  description = "Per plugin: the p99 duration (ms) its alarm fires above (80% of its timeout)."
  value       = { for id, alarm in aws_cloudwatch_metric_alarm.plugin_duration_p99 : id => alarm.threshold }
}

output "dashboard_body" {
  description = "The dashboard's JSON (its widgets: the stack's, then a row per plugin)."
  value       = aws_cloudwatch_dashboard.this.dashboard_body
}
