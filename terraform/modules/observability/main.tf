# Alarms to an SNS topic, and a dashboard: Lambda errors, throttles, p99 duration near the
# timeout, API 5xx, and deployments the host refused (plughost's EMF metric) — and per
# plugin (plughost's EMF metrics, dimension `plugin`): a dashboard row, an alarm on its
# error rate and one on its p99 duration near its own timeout.

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

# A plugin's failed invocations (and refused outgoing requests) as a percentage of its
# invocations, over 5 minutes; quiet below `plugin_error_min_invocations`.
resource "aws_cloudwatch_metric_alarm" "plugin_error_rate" {
  for_each            = var.plugins
  alarm_name          = "${var.name}-plugin-${each.key}-error-rate"
  alarm_description   = "Plugin ${each.key}: more than ${var.plugin_error_rate_percent}% of its invocations failed (traps, timeouts, memory limit, invalid responses, at capacity, refused outgoing requests). Logs Insights: README, \"Errors by plugin\"."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.plugin_error_rate_percent
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags

  metric_query {
    id          = "rate"
    expression  = "IF(invocations >= ${var.plugin_error_min_invocations}, 100 * errors / invocations, 0)"
    label       = "${each.key} error rate (%)"
    return_data = true
  }
  metric_query {
    id = "errors"
    metric {
      namespace   = "plughost"
      metric_name = "Errors"
      dimensions  = { plugin = each.key }
      period      = 300
      stat        = "Sum"
    }
  }
  metric_query {
    id = "invocations"
    metric {
      namespace   = "plughost"
      metric_name = "Invocations"
      dimensions  = { plugin = each.key }
      period      = 300
      stat        = "Sum"
    }
  }
}

# A plugin's p99 duration (admission to answer) above 80% of its own timeout.
resource "aws_cloudwatch_metric_alarm" "plugin_duration_p99" {
  for_each            = var.plugins
  alarm_name          = "${var.name}-plugin-${each.key}-duration-p99"
  alarm_description   = "Plugin ${each.key}: p99 duration above 80% of its ${each.value.timeout_ms} ms timeout."
  namespace           = "plughost"
  metric_name         = "Duration"
  dimensions          = { plugin = each.key }
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.timeout_ms * 0.8
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

locals {
  # The stack's own widgets: two per row.
  stack_widgets = [
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
  stack_rows = ceil(length(local.stack_widgets) / 2)

  # One row per plugin, three widgets: traffic and errors, duration, host calls.
  plugin_ids = sort(keys(var.plugins))
  plugin_widgets = flatten([
    for row, plugin in local.plugin_ids : [
      for column, w in [
        { title = "${plugin}: invocations / errors", stat = "Sum", metrics = [
          ["plughost", "Invocations", "plugin", plugin],
          ["plughost", "Errors", "plugin", plugin],
          ["plughost", "Errors.timeout", "plugin", plugin],
          ["plughost", "Errors.trap", "plugin", plugin],
          ["plughost", "ColdStarts", "plugin", plugin],
        ] },
        { title = "${plugin}: duration p50 / p99 (ms)", stat = "p99", metrics = [
          ["plughost", "Duration", "plugin", plugin, { stat = "p50" }],
          ["plughost", "Duration", "plugin", plugin, { stat = "p99" }],
          ["plughost", "InstantiateDuration", "plugin", plugin, { stat = "p99" }],
        ] },
        { title = "${plugin}: host calls", stat = "Sum", metrics = [
          for capability in ["kv", "blob", "queue", "topic", "bus", "http"] :
          ["plughost", "HostCalls.${capability}", "plugin", plugin]
        ] },
        ] : {
        type   = "metric"
        x      = column * 8
        y      = (local.stack_rows + row) * 6
        width  = 8
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
  ])
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = concat(local.stack_widgets, local.plugin_widgets) })
}
