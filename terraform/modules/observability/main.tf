# Alarms to an SNS topic, and a dashboard: Lambda errors, throttles, p99 duration near the
# timeout, API 5xx, and deployments the host refused (plughost's EMF metric).

data "aws_region" "current" {}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  lambda = { FunctionName = var.function_name }
  alarms = {
    errors = {
      namespace   = "AWS/Lambda", metric = "Errors", statistic = "Sum", threshold = 0, dimensions = local.lambda
      description = "The function returned errors (invocation failures, not plugin 5xx)."
    }
    throttles = {
      namespace   = "AWS/Lambda", metric = "Throttles", statistic = "Sum", threshold = 0, dimensions = local.lambda
      description = "Invocations were throttled: raise reserved concurrency or the account limit."
    }
    api-5xx = {
      namespace   = "AWS/ApiGateway", metric = "5xx", statistic = "Sum", threshold = 0, dimensions = { ApiId = var.api_id }
      description = "The API answered 5xx (plugin failures, timeouts, host at capacity)."
    }
    deployment-rejected = {
      namespace   = "plughost", metric = "DeploymentRejected", statistic = "Sum", threshold = 0, dimensions = {}
      description = "A pushed version was refused (corrupt component, bad manifest); the previous one still serves."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each            = local.alarms
  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 60
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "duration_p99" {
  alarm_name          = "${var.name}-duration-p99"
  alarm_description   = "p99 duration above 80% of the timeout: requests are close to being cut off."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = local.lambda
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.timeout_seconds * 1000 * 0.8
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      for i, w in [
        { title = "Invocations, errors, throttles", metrics = [
          ["AWS/Lambda", "Invocations", "FunctionName", var.function_name],
          ["AWS/Lambda", "Errors", "FunctionName", var.function_name],
          ["AWS/Lambda", "Throttles", "FunctionName", var.function_name],
        ], stat = "Sum" },
        { title = "Duration p50 / p99 (ms)", metrics = [
          ["AWS/Lambda", "Duration", "FunctionName", var.function_name, { stat = "p50" }],
          ["AWS/Lambda", "Duration", "FunctionName", var.function_name, { stat = "p99" }],
        ], stat = "p99" },
        { title = "API requests and 4xx / 5xx", metrics = [
          ["AWS/ApiGateway", "Count", "ApiId", var.api_id],
          ["AWS/ApiGateway", "4xx", "ApiId", var.api_id],
          ["AWS/ApiGateway", "5xx", "ApiId", var.api_id],
        ], stat = "Sum" },
        { title = "Deployments published / rejected", metrics = [
          ["plughost", "DeploymentPublished"],
          ["plughost", "DeploymentRejected"],
          ["plughost", "PluginUnavailable"],
        ], stat = "Sum" },
        ] : {
        type   = "metric"
        x      = (i % 2) * 12
        y      = floor(i / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = w.title
          metrics = w.metrics
          stat    = w.stat
          period  = 60
          region  = data.aws_region.current.name
          view    = "timeSeries"
        }
      }
    ]
  })
}
