# Step Functions state machines whose tasks are plughost plugins: each step invokes the
# function with `{"plughost_task": {"plugin": ..., "input": <the state's input>}}`, and the
# plugin's output is the next step's input. Transient failures (a timeout, the host at
# capacity, Lambda throttling) are retried with backoff; the error names a step `catch`es
# (the plugin's own, e.g. OrderRejected) end the workflow in its `Rejected` state with
# that error and cause. The state machines' role may invoke the one function, nothing else.

data "aws_caller_identity" "current" {}

locals {
  definitions = {
    for name, workflow in var.workflows : name => jsonencode({
      Comment = "plughost workflow ${name}: ${join(" -> ", [for step in workflow.steps : step.plugin])}"
      StartAt = workflow.steps[0].name
      States = merge(
        {
          for i, step in workflow.steps : step.name => merge(
            {
              Type       = "Task"
              Resource   = var.function_arn
              Parameters = { plughost_task = { plugin = step.plugin, "input.$" = "$" } }
              Retry = [{
                ErrorEquals     = workflow.retry_errors
                IntervalSeconds = 1
                MaxAttempts     = workflow.max_attempts
                BackoffRate     = 2
              }]
            },
            length(step.catch) == 0 ? {} : {
              Catch = [{ ErrorEquals = step.catch, ResultPath = "$.error", Next = "Rejected" }]
            },
            i == length(workflow.steps) - 1 ? { End = true } : { Next = workflow.steps[i + 1].name },
          )
        },
        {
          Rejected = { Type = "Fail", ErrorPath = "$.error.Error", CausePath = "$.error.Cause" }
        },
      )
    })
  }
}

resource "aws_cloudwatch_log_group" "this" {
  count             = length(var.workflows) == 0 ? 0 : 1
  name              = "/aws/vendedlogs/states/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_iam_role" "this" {
  count = length(var.workflows) == 0 ? 0 : 1
  name  = "${var.name}-workflows"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "states.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } }
    }]
  })
  tags = var.tags
}

locals {
  policy_statements = [
    {
      Sid      = "InvokeThePlughostFunction"
      Effect   = "Allow"
      Action   = ["lambda:InvokeFunction"]
      Resource = [var.function_arn, "${var.function_arn}:*"]
    },
    {
      # Step Functions' log delivery and X-Ray APIs have no resource-level permissions.
      Sid    = "ExecutionLogsAndTraces"
      Effect = "Allow"
      Action = [
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
        "xray:GetSamplingRules", "xray:GetSamplingTargets",
      ]
      Resource = ["*"]
    },
  ]
}

resource "aws_iam_role_policy" "this" {
  count  = length(var.workflows) == 0 ? 0 : 1
  name   = "${var.name}-workflows"
  role   = aws_iam_role.this[0].id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.policy_statements })
}

resource "aws_sfn_state_machine" "this" {
  for_each   = var.workflows
  name       = "${var.name}-${each.key}"
  role_arn   = aws_iam_role.this[0].arn
  definition = local.definitions[each.key]
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this[0].arn}:*"
    include_execution_data = true
    level                  = "ERROR"
  }
  tracing_configuration {
    enabled = true
  }
  tags = var.tags
}
