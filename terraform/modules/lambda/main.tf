# The function: the plughost binary as `bootstrap` on provided.al2023, its log group,
# and the manifest's S3 event notification that makes a warm instance reload at once.

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  function_name                  = var.name
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  memory_size                    = var.memory_mb
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency
  role                           = var.role_arn
  kms_key_arn                    = var.kms_key_arn
  tags                           = var.tags

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text" # plughost writes JSON lines itself (and EMF metrics)
    log_group  = aws_cloudwatch_log_group.this.name
  }

  # checkov:skip=CKV_AWS_116: a dead-letter queue is for asynchronous invocations; API requests are synchronous and the S3 notification only triggers a reload that the refresh poll repeats anyway.
  # checkov:skip=CKV_AWS_117: plughost reaches only S3, DynamoDB and Secrets Manager over their public endpoints; a VPC adds NAT cost and cold-start latency without isolating anything here.
  # checkov:skip=CKV_AWS_272: code signing needs a signing profile per organisation; the package is built and deployed by the pipeline that owns it.
  depends_on = [aws_cloudwatch_log_group.this]
}

resource "aws_lambda_permission" "manifest_notification" {
  statement_id   = "ManifestWritten"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = var.deployments_bucket_arn
  source_account = data.aws_caller_identity.current.account_id
}

data "aws_caller_identity" "current" {}

resource "aws_s3_bucket_notification" "manifest" {
  bucket = var.deployments_bucket
  lambda_function {
    lambda_function_arn = aws_lambda_function.this.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.manifest_key
  }
  depends_on = [aws_lambda_permission.manifest_notification]
}
