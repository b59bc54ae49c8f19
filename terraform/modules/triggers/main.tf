# Every trigger of the manifest wired to the one function, with the least privilege each
# needs:
#
# | trigger  | AWS                                                                   |
# |----------|-----------------------------------------------------------------------|
# | schedule | an EventBridge rule (default bus) whose target names plugin and trigger |
# | object   | the data bucket's notification for the container's prefix               |
# | queue    | an event source mapping with ReportBatchItemFailures                    |
# | topic    | the function subscribed to the topic                                    |
# | changes  | one mapping on the kv table's stream, filtered to consumed namespaces   |
# | bus      | a rule on the custom bus with the trigger's pattern                     |
#
# Schedule and bus targets wrap the event in the envelope plughost expects
# (`plughost_schedule` / `plughost_bus`, see host/src/lambda/records.rs).

locals {
  schedules = { for t in var.triggers : "${t.plugin}.${t.name}" => t if t.schedule != null }
  # A queue has one consumer (the manifest refuses two).
  queue_triggers = { for t in var.triggers : t.queue => t if t.queue != null }
  topics         = toset([for t in var.triggers : t.topic if t.topic != null])
  bus_rules      = { for i, t in var.triggers : "${t.plugin}.${i}" => t if t.bus != null }
  # One notification per container (plughost applies each trigger's on/prefix/suffix):
  # S3 refuses overlapping notification filters, which two triggers on one container
  # would otherwise create.
  object_prefixes = toset([for t in var.triggers : var.blob_containers[t.object] if t.object != null])
  change_prefixes = toset([for t in var.triggers : var.kv_stores[t.changes] if t.changes != null])
  # EventBridge rule names: at most 64 characters, unique per trigger.
  rule_name = { for key in concat(keys(local.schedules), keys(local.bus_rules)) :
  key => "${substr("${var.name}-${replace(key, ".", "-")}", 0, 55)}-${substr(sha1(key), 0, 8)}" }
}

# ---- schedules ----------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "schedule" {
  for_each            = local.schedules
  name                = local.rule_name[each.key]
  description         = "plughost: schedule ${each.value.name} of plugin ${each.value.plugin}"
  schedule_expression = each.value.schedule
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  for_each = local.schedules
  rule     = aws_cloudwatch_event_rule.schedule[each.key].name
  arn      = var.function_arn
  input_transformer {
    input_paths = { time = "$.time", id = "$.id" }
    input_template = jsonencode({
      plughost_schedule = { plugin = each.value.plugin, name = each.value.name, time = "<time>", id = "<id>" }
    })
  }
}

resource "aws_lambda_permission" "schedule" {
  for_each      = local.schedules
  statement_id  = "Schedule-${substr(sha1(each.key), 0, 16)}"
  action        = "lambda:InvokeFunction"
  function_name = var.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule[each.key].arn
}

# ---- bus events -----------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "bus" {
  for_each       = local.bus_rules
  name           = local.rule_name[each.key]
  description    = "plughost: bus ${each.value.bus} events for plugin ${each.value.plugin}"
  event_bus_name = var.bus_names[each.value.bus]
  event_pattern  = each.value.pattern
  tags           = var.tags
}

resource "aws_cloudwatch_event_target" "bus" {
  for_each       = local.bus_rules
  rule           = aws_cloudwatch_event_rule.bus[each.key].name
  event_bus_name = var.bus_names[each.value.bus]
  arn            = var.function_arn
  input_transformer {
    input_template = "{\"plughost_bus\":${jsonencode(each.value.bus)},\"event\":<aws.events.event.json>}"
  }
}

resource "aws_lambda_permission" "bus" {
  for_each      = local.bus_rules
  statement_id  = "Bus-${substr(sha1(each.key), 0, 16)}"
  action        = "lambda:InvokeFunction"
  function_name = var.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.bus[each.key].arn
}

# ---- queues ---------------------------------------------------------------------------

resource "aws_lambda_event_source_mapping" "queue" {
  for_each                = local.queue_triggers
  event_source_arn        = var.queue_arns[each.key]
  function_name           = var.function_name
  batch_size              = each.value.batch
  function_response_types = ["ReportBatchItemFailures"]
  tags                    = var.tags
}

# ---- topics ---------------------------------------------------------------------------

resource "aws_lambda_permission" "topic" {
  for_each      = local.topics
  statement_id  = "Topic-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = var.function_name
  principal     = "sns.amazonaws.com"
  source_arn    = var.topic_arns[each.key]
}

resource "aws_sns_topic_subscription" "topic" {
  for_each   = local.topics
  topic_arn  = var.topic_arns[each.key]
  protocol   = "lambda"
  endpoint   = var.function_arn
  depends_on = [aws_lambda_permission.topic]
}

# ---- objects --------------------------------------------------------------------------

resource "aws_lambda_permission" "objects" {
  count          = length(local.object_prefixes) == 0 ? 0 : 1
  statement_id   = "DataObjects"
  action         = "lambda:InvokeFunction"
  function_name  = var.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = var.data_bucket_arn
  source_account = data.aws_caller_identity.current.account_id
}

data "aws_caller_identity" "current" {}

resource "aws_s3_bucket_notification" "objects" {
  count  = length(local.object_prefixes) == 0 ? 0 : 1
  bucket = var.data_bucket
  dynamic "lambda_function" {
    for_each = local.object_prefixes
    content {
      lambda_function_arn = var.function_arn
      events              = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
      filter_prefix       = "${lambda_function.value}/"
    }
  }
  depends_on = [aws_lambda_permission.objects]
}

# ---- kv changes -----------------------------------------------------------------------

# Stream records that still fail after the retries land here, with their positions.
resource "aws_sqs_queue" "stream_failures" {
  count                     = length(local.change_prefixes) == 0 ? 0 : 1
  name                      = "${var.name}-kv-changes-failures"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
  tags                      = var.tags
}

resource "aws_lambda_event_source_mapping" "changes" {
  count                          = length(local.change_prefixes) == 0 ? 0 : 1
  event_source_arn               = var.kv_stream_arn
  function_name                  = var.function_name
  starting_position              = "LATEST"
  batch_size                     = 100
  function_response_types        = ["ReportBatchItemFailures"]
  maximum_retry_attempts         = 10
  maximum_record_age_in_seconds  = 86400
  bisect_batch_on_function_error = false
  # Only namespaces of stores some plugin consumes invoke the function.
  filter_criteria {
    filter {
      pattern = jsonencode({ dynamodb = { Keys = { pk = { S = [for prefix in sort(tolist(local.change_prefixes)) : { prefix = "${prefix}#" }] } } } })
    }
  }
  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.stream_failures[0].arn
    }
  }
  tags = var.tags
}

# ---- what consuming needs -------------------------------------------------------------

locals {
  consumed_queue_arns = [for label in keys(local.queue_triggers) : var.queue_arns[label]]
  policy_statements = concat(
    length(local.consumed_queue_arns) == 0 ? [] : [{
      Sid      = "ConsumeQueues"
      Effect   = "Allow"
      Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
      Resource = local.consumed_queue_arns
    }],
    length(local.change_prefixes) == 0 ? [] : [
      {
        Sid      = "ReadKvStream"
        Effect   = "Allow"
        Action   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
        Resource = [var.kv_stream_arn]
      },
      {
        Sid      = "KeepFailedStreamRecords"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [aws_sqs_queue.stream_failures[0].arn]
      },
    ],
  )
}

resource "aws_iam_role_policy" "consume" {
  count  = length(local.policy_statements) == 0 ? 0 : 1
  name   = "${var.name}-triggers"
  role   = var.role_name
  policy = jsonencode({ Version = "2012-10-17", Statement = local.policy_statements })
}
