# `terraform test` with a mocked AWS provider: the properties operators rely on, checked
# on the whole dev stack "applied" against the mock (nothing is created; computed values
# are mock values). scripts/check-terraform runs it (make test).

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = {
      arn        = "arn:aws:dynamodb:us-east-1:123456789012:table/plughost-test-kv"
      stream_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/plughost-test-kv/stream/2026-12-01T00:00:00.000"
    }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:us-east-1:123456789012:mock"
      url = "https://sqs.us-east-1.amazonaws.com/123456789012/mock"
    }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:us-east-1:123456789012:rule/mock" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/mock" }
  }
  # ARNs the provider validates where they are used.
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::mock-bucket" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:mock" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_lambda_function" {
    defaults = {
      arn        = "arn:aws:lambda:us-east-1:123456789012:function:mock"
      invoke_arn = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:mock/invocations"
    }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:mock" }
  }
  mock_resource "aws_apigatewayv2_api" {
    defaults = { execution_arn = "arn:aws:execute-api:us-east-1:123456789012:mock" }
  }
}

variables {
  name         = "plughost-test"
  package_path = "../../../target/terraform/bootstrap-placeholder.zip"
  artifact_key = "a test artifact key of 32+ characters"
}

run "iam_grants_only_named_resources_for_dynamodb_and_s3" {
  command = apply

  assert {
    condition = alltrue(flatten([
      for statement in module.iam.policy_statements : [
        for resource in statement.Resource : resource != "*"
      ] if anytrue([for action in statement.Action : startswith(action, "dynamodb:") || startswith(action, "s3:")])
    ]))
    error_message = "a DynamoDB or S3 statement has a wildcard resource"
  }

  assert {
    condition = alltrue(flatten([
      for statement in module.iam.policy_statements : [
        for resource in statement.Resource :
        startswith(resource, module.storage.kv_table_arn) ||
        startswith(resource, module.storage.deployments_bucket_arn) ||
        startswith(resource, module.storage.data_bucket_arn)
      ] if anytrue([for action in statement.Action : startswith(action, "dynamodb:") || startswith(action, "s3:")])
    ]))
    error_message = "a DynamoDB or S3 statement names a resource outside the stack's table and buckets"
  }

  assert {
    condition = alltrue(flatten([
      for statement in module.iam.policy_statements : [for action in statement.Action : !endswith(action, ":*") && action != "*"]
    ]))
    error_message = "an IAM statement grants a wildcard action"
  }

  assert {
    condition     = [for s in module.iam.policy_statements : s.Resource if s.Sid == "BlobContainers"][0] == ["${module.storage.data_bucket_arn}/images/*", "${module.storage.data_bucket_arn}/uploads/*"]
    error_message = "blob access must be limited to the containers' prefixes"
  }

  assert {
    condition     = [for s in module.iam.policy_statements : s.Resource if s.Sid == "Tracing"][0] == ["*"]
    error_message = "only X-Ray (no resource-level permissions) may use *"
  }
}

run "buckets_are_encrypted_versioned_private_and_tls_only" {
  command = apply

  assert {
    condition = alltrue([
      for config in module.storage.encryption :
      one(config.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms" &&
      one(config.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == "arn:aws:kms:us-east-1:123456789012:key/mock"
    ])
    error_message = "every bucket is encrypted with the customer-managed KMS key"
  }

  assert {
    condition = alltrue([
      for block in module.storage.public_access_blocks :
      block.block_public_acls && block.block_public_policy && block.ignore_public_acls && block.restrict_public_buckets
    ])
    error_message = "every bucket blocks all public access"
  }

  assert {
    condition     = length(module.storage.public_access_blocks) == 2 && length(module.storage.encryption) == 2 && length(module.storage.versioning) == 2 && length(module.storage.lifecycle) == 2
    error_message = "both buckets (deployments, data) are covered"
  }

  assert {
    condition     = alltrue([for v in module.storage.versioning : one(v.versioning_configuration).status == "Enabled"])
    error_message = "every bucket is versioned (old manifests can be restored)"
  }

  assert {
    condition     = alltrue([for l in module.storage.lifecycle : one(l.rule).noncurrent_version_expiration[0].noncurrent_days == 30])
    error_message = "old object versions expire"
  }

  assert {
    condition = alltrue([
      for policy in module.storage.bucket_policies : jsondecode(policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false" && jsondecode(policy).Statement[0].Effect == "Deny"
    ])
    error_message = "every bucket denies requests without TLS"
  }
}

run "the_table_has_pitr_ttl_and_a_customer_managed_key" {
  command = apply

  assert {
    condition     = one(module.storage.table.point_in_time_recovery).enabled
    error_message = "point-in-time recovery is on"
  }

  assert {
    condition     = one(module.storage.table.ttl).attribute_name == "ttl" && one(module.storage.table.ttl).enabled
    error_message = "the TTL attribute is plughost's `ttl`"
  }

  assert {
    condition     = one(module.storage.table.server_side_encryption).enabled && one(module.storage.table.server_side_encryption).kms_key_arn == "arn:aws:kms:us-east-1:123456789012:key/mock"
    error_message = "the table is encrypted with the customer-managed key"
  }

  assert {
    condition     = module.storage.table.billing_mode == "PAY_PER_REQUEST"
    error_message = "the table is on-demand"
  }
}

run "the_function_gets_what_plughost_reads_from_its_environment" {
  command = apply

  assert {
    condition     = output.lambda_environment.PLUGHOST_MANIFEST == "s3://plughost-test-deployments-123456789012/manifest.toml"
    error_message = "PLUGHOST_MANIFEST is the deployments bucket's manifest"
  }

  assert {
    condition = jsondecode(output.lambda_environment.PLUGHOST_STORAGE) == {
      kv = {
        for label in ["activity", "latest", "notifications", "orders", "products", "upload-meta", "users"] :
        label => { dynamodb = { table = "plughost-test-kv", prefix = label } }
      }
      blob = {
        for label in ["images", "uploads"] : label => { s3 = { bucket = "plughost-test-data-123456789012", prefix = label } }
      }
      queue = {
        for label in ["jobs", "order-audit", "orders"] : label => {
          sqs = { arn = "arn:aws:sqs:us-east-1:123456789012:mock", url = "https://sqs.us-east-1.amazonaws.com/123456789012/mock" }
        }
      }
      topic = {
        for label in ["alerts", "order-events"] : label => { sns = { arn = "arn:aws:sns:us-east-1:123456789012:mock" } }
      }
      bus = { app = { eventbridge = { name = "plughost-test-app" } } }
    }
    error_message = "PLUGHOST_STORAGE binds every kv store to the table, every container to the data bucket, and every queue, topic and bus"
  }

  assert {
    condition     = output.lambda_environment.PLUGHOST_REFRESH == "2s" && output.lambda_environment.PLUGHOST_COMPILE == "eager"
    error_message = "refresh and compile mode are set"
  }

  assert {
    condition     = !contains(keys(output.lambda_environment), "PLUGHOST_ARTIFACT_KEY")
    error_message = "the artifact key is not shown in outputs"
  }
}

run "every_trigger_is_wired_with_its_delivery_rules" {
  command = apply

  assert {
    condition = (
      module.messaging.queues["jobs"].visibility_timeout_seconds >= 10 &&
      jsondecode(module.messaging.queues["jobs"].redrive_policy).maxReceiveCount == 3
    )
    error_message = "a queue outlasts the function's timeout and dead-letters after max_receives"
  }

  assert {
    condition     = module.triggers.queue_mappings["jobs"].function_response_types == toset(["ReportBatchItemFailures"]) && module.triggers.queue_mappings["jobs"].batch_size == 10
    error_message = "a queue's mapping reports partial batch failures"
  }

  assert {
    condition = jsondecode(one(module.triggers.schedule_targets["activity.heartbeat"].input_transformer).input_template) == {
      plughost_schedule = { plugin = "activity", name = "heartbeat", time = "<time>", id = "<id>" }
    }
    error_message = "a schedule's target names its plugin and trigger, with the scheduled time"
  }

  assert {
    condition     = startswith(one(module.triggers.bus_targets["activity.5"].input_transformer).input_template, "{\"plughost_bus\":\"app\",\"event\":<aws.events.event.json>}")
    error_message = "a bus rule's target wraps the event with its bus label"
  }

  assert {
    condition = (
      one(module.triggers.changes_mapping).function_response_types == toset(["ReportBatchItemFailures"]) &&
      one(one(one(module.triggers.changes_mapping).filter_criteria).filter).pattern == jsonencode({ dynamodb = { Keys = { pk = { S = [{ prefix = "products#" }] } } } })
    )
    error_message = "only the consumed stores' namespaces reach the function from the kv stream"
  }

  assert {
    condition     = [for f in one(module.triggers.object_notification).lambda_function : f.filter_prefix] == ["images/", "uploads/"]
    error_message = "the data bucket notifies the function for the containers with object triggers"
  }

  assert {
    condition = alltrue(flatten([
      for statement in module.triggers.policy_statements : [for resource in statement.Resource : resource != "*"]
    ]))
    error_message = "consuming the triggers' sources is granted on named resources only"
  }
}

run "plugins_send_publish_and_put_only_where_they_are_granted" {
  command = apply

  assert {
    condition = jsonencode({ for s in module.messaging.send_policy_statements : s.Sid => s.Action }) == jsonencode({
      SendToGrantedQueues    = ["sqs:SendMessage", "sqs:GetQueueUrl"]
      PublishToGrantedTopics = ["sns:Publish"]
      PutOnGrantedBuses      = ["events:PutEvents"]
    })
    error_message = "the function may send, publish and put, and nothing else on its queues, topics and buses"
  }

  assert {
    condition = alltrue(flatten([
      for s in module.messaging.send_policy_statements : [for r in s.Resource : r != "*"]
    ])) && length([for s in module.messaging.send_policy_statements : s if s.Sid == "SendToGrantedQueues"][0].Resource) == 1
    error_message = "sending is granted on the granted labels' resources only (one queue: orders)"
  }

  assert {
    condition = (
      module.messaging.subscriptions["order-audit/order-events"].raw_message_delivery &&
      module.messaging.subscriptions["order-audit/order-events"].protocol == "sqs"
    )
    error_message = "a queue's `topics` subscribe it with raw delivery (the consumer gets the published body)"
  }
}

run "a_fifo_queue_is_named_and_deduplicated_as_sqs_requires" {
  command = apply
  variables {
    queues   = { ledger = { fifo = true } }
    sends    = { queues = ["ledger"] }
    topics   = []
    triggers = []
  }

  assert {
    condition = (
      module.messaging.queues["ledger"].name == "plughost-test-ledger.fifo" &&
      module.messaging.queues["ledger"].fifo_queue &&
      module.messaging.queues["ledger"].content_based_deduplication
    )
    error_message = "a FIFO queue's name ends in .fifo and it deduplicates by content"
  }
}

run "the_order_workflow_retries_transient_failures_and_catches_the_plugins_errors" {
  command = apply

  assert {
    condition = jsondecode(module.workflows.definitions["orders"]).States.Validate.Parameters == {
      plughost_task = { plugin = "orders", "input.$" = "$" }
    }
    error_message = "a step invokes the function with a plughost_task payload naming its plugin"
  }

  assert {
    condition = (
      jsondecode(module.workflows.definitions["orders"]).StartAt == "Validate" &&
      jsondecode(module.workflows.definitions["orders"]).States.Validate.Next == "Process" &&
      jsondecode(module.workflows.definitions["orders"]).States.Process.Next == "Notify" &&
      jsondecode(module.workflows.definitions["orders"]).States.Notify.End
    )
    error_message = "validate -> process -> notify"
  }

  assert {
    condition = (
      jsondecode(module.workflows.definitions["orders"]).States.Process.Catch[0].ErrorEquals == ["OrderFailed"] &&
      jsondecode(module.workflows.definitions["orders"]).States.Process.Catch[0].Next == "Rejected" &&
      contains(jsondecode(module.workflows.definitions["orders"]).States.Process.Retry[0].ErrorEquals, "plughost.Timeout")
    )
    error_message = "a step retries transient failures and catches its plugin's error names"
  }

  assert {
    condition     = [for s in module.workflows.policy_statements : s.Resource if s.Sid == "InvokeThePlughostFunction"][0] == [module.lambda.function_arn, "${module.lambda.function_arn}:*"]
    error_message = "the workflows may invoke the plughost function and nothing else"
  }
}

run "a_trigger_naming_two_sources_is_refused" {
  command = plan
  variables {
    triggers = [{ plugin = "p", queue = "jobs", topic = "alerts" }]
  }
  expect_failures = [var.triggers]
}

run "a_wrong_architecture_is_refused" {
  command = plan
  variables {
    architecture = "sparc"
  }
  expect_failures = [var.architecture]
}

run "a_short_artifact_key_is_refused" {
  command = plan
  variables {
    artifact_key = "too short"
  }
  expect_failures = [var.artifact_key]
}

run "every_plugin_gets_a_dashboard_row_and_alarms_on_its_error_rate_and_p99" {
  command = apply
  variables {
    plugins = { hello = { timeout_ms = 5000 }, pricing = { timeout_ms = 2000 } }
  }

  assert {
    condition     = length(module.observability.plugin_alarms) == 2
    error_message = "one pair of alarms per plugin"
  }
  assert {
    condition     = module.observability.plugin_alarms["pricing"].duration_p99 == "plughost-test-plugin-pricing-duration-p99"
    error_message = "the p99 alarm is named after its plugin"
  }
  assert {
    # 80% of pricing's own 2 s timeout, not the function's.
    condition     = module.observability.plugin_p99_thresholds_ms["pricing"] == 1600
    error_message = "a plugin's p99 alarm fires at 80% of its own timeout"
  }
  assert {
    condition = alltrue([
      for plugin in ["hello", "pricing"] :
      length([for w in jsondecode(module.observability.dashboard_body).widgets : w if startswith(w.properties.title, "${plugin}: ")]) == 3
    ])
    error_message = "each plugin has a row of three widgets"
  }
  assert {
    condition = alltrue(flatten([
      for plugin in ["hello", "pricing"] : [
        for w in jsondecode(module.observability.dashboard_body).widgets : [
          for m in w.properties.metrics : m[0] == "plughost" && m[2] == "plugin" && m[3] == plugin
        ] if startswith(w.properties.title, "${plugin}: ")
      ]
    ]))
    error_message = "a plugin's row reads plughost's metrics of that plugin (dimension `plugin`)"
  }
}
