# The function's role: least privilege. Every statement names its resources; the one
# wildcard (X-Ray) is where AWS offers no resource-level permission.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
  log_group = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${var.function_name}"
}

locals {
  # Policies are built with jsonencode, not aws_iam_policy_document, so they are plain
  # values `terraform test` can inspect with a mocked provider.
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "lambda.amazonaws.com" } }]
  })
}

resource "aws_iam_role" "lambda" {
  name               = "${var.name}-lambda"
  assume_role_policy = local.assume_role_policy
  tags               = var.tags
}

locals {
  blob_statements = flatten([for _ in(length(var.blob_prefixes) == 0 ? [] : [1]) : [
    {
      Sid      = "BlobContainers"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
      Resource = [for prefix in var.blob_prefixes : "${var.data_bucket_arn}/${prefix}/*"]
    },
    {
      Sid       = "ListBlobContainers"
      Effect    = "Allow"
      Action    = ["s3:ListBucket"]
      Resource  = [var.data_bucket_arn]
      Condition = { StringLike = { "s3:prefix" = [for prefix in var.blob_prefixes : "${prefix}/*"] } }
    },
  ]])
  secrets_statements = [for prefix in(var.secrets_prefix == null ? [] : [var.secrets_prefix]) : {
    Sid      = "PluginSecrets"
    Effect   = "Allow"
    Action   = ["secretsmanager:GetSecretValue"]
    Resource = ["arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:${prefix}*"]
  }]
  policy_statements = concat([
    {
      Sid      = "OwnLogGroup"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = ["${local.log_group}:*"]
    },
    {
      Sid    = "Tracing"
      Effect = "Allow"
      Action = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      # X-Ray has no resource-level permissions: AWS requires "*" here.
      Resource = ["*"]
    },
    {
      Sid    = "KvTable"
      Effect = "Allow"
      Action = [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
      ]
      Resource = [var.kv_table_arn, "${var.kv_table_arn}/index/*"]
    },
    {
      # TransactWriteItems is authorised per item by the actions above; the call itself
      # is granted on the table only.
      Sid      = "KvTransactions"
      Effect   = "Allow"
      Action   = ["dynamodb:TransactWriteItems"]
      Resource = [var.kv_table_arn]
    },
    {
      Sid      = "ReadDeployment"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["${var.deployments_bucket_arn}/${var.deployment_prefix}*"]
    },
    {
      Sid      = "ShareCompiledComponents"
      Effect   = "Allow"
      Action   = ["s3:PutObject"]
      Resource = ["${var.deployments_bucket_arn}/${var.deployment_prefix}compiled/*"]
    },
    {
      # Without ListBucket a missing object reads as 403, not 404.
      Sid       = "ListDeployment"
      Effect    = "Allow"
      Action    = ["s3:ListBucket"]
      Resource  = [var.deployments_bucket_arn]
      Condition = { StringLike = { "s3:prefix" = ["${var.deployment_prefix}*"] } }
    },
    {
      Sid      = "UseDataKey"
      Effect   = "Allow"
      Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      Resource = [var.kms_key_arn]
    },
  ], local.blob_statements, local.secrets_statements)
  policy = jsonencode({ Version = "2012-10-17", Statement = local.policy_statements })
}

resource "aws_iam_role_policy" "lambda" {
  name   = "${var.name}-lambda"
  role   = aws_iam_role.lambda.id
  policy = local.policy
}
