# The dev stack: storage, the function's role, the function, the HTTP API, the queues,
# topics and buses and their triggers, the workflows, alarms.

locals {
  manifest_key = "${var.deployment_prefix}manifest.toml"
  storage_map = jsonencode(merge({
    kv   = { for label, prefix in var.kv_stores : label => { dynamodb = { table = module.storage.kv_table, prefix = prefix } } }
    blob = { for label, prefix in var.blob_containers : label => { s3 = { bucket = module.storage.data_bucket, prefix = prefix } } }
  }, module.messaging.storage_map))
  # Everything but the artifact key, which is sensitive and stays out of outputs.
  public_environment = merge(
    {
      PLUGHOST_MANIFEST = "s3://${module.storage.deployments_bucket}/${local.manifest_key}"
      PLUGHOST_STORAGE  = local.storage_map
      PLUGHOST_REFRESH  = var.refresh
      PLUGHOST_COMPILE  = var.compile
    },
    var.secrets_prefix == null ? {} : { PLUGHOST_SECRETS = "aws-secrets-manager:${var.secrets_prefix}" },
  )
  environment = merge(
    local.public_environment,
    var.artifact_key == null ? {} : { PLUGHOST_ARTIFACT_KEY = var.artifact_key },
  )
}

module "storage" {
  source        = "../../modules/storage"
  name          = var.name
  force_destroy = var.force_destroy
}

module "messaging" {
  source                         = "../../modules/messaging"
  name                           = var.name
  kms_key_arn                    = module.storage.kms_key_arn
  queues                         = var.queues
  topics                         = var.topics
  buses                          = var.buses
  sends                          = var.sends
  role_name                      = module.iam.role_name
  min_visibility_timeout_seconds = var.timeout_seconds
}

module "workflows" {
  source             = "../../modules/workflows"
  name               = var.name
  function_arn       = module.lambda.function_arn
  kms_key_arn        = module.storage.kms_key_arn
  log_retention_days = var.log_retention_days
  workflows          = var.workflows
}

module "triggers" {
  source          = "../../modules/triggers"
  name            = var.name
  function_name   = module.lambda.function_name
  function_arn    = module.lambda.function_arn
  role_name       = module.iam.role_name
  kms_key_arn     = module.storage.kms_key_arn
  triggers        = var.triggers
  queue_arns      = module.messaging.queue_arns
  topic_arns      = module.messaging.topic_arns
  bus_names       = module.messaging.bus_names
  data_bucket     = module.storage.data_bucket
  data_bucket_arn = module.storage.data_bucket_arn
  blob_containers = var.blob_containers
  kv_stream_arn   = module.storage.kv_stream_arn
  kv_stores       = var.kv_stores
}

module "iam" {
  source                 = "../../modules/iam"
  name                   = var.name
  function_name          = var.name
  kms_key_arn            = module.storage.kms_key_arn
  kv_table_arn           = module.storage.kv_table_arn
  deployments_bucket_arn = module.storage.deployments_bucket_arn
  deployment_prefix      = var.deployment_prefix
  data_bucket_arn        = module.storage.data_bucket_arn
  blob_prefixes          = values(var.blob_containers)
  secrets_prefix         = var.secrets_prefix
}

module "lambda" {
  source                 = "../../modules/lambda"
  name                   = var.name
  package_path           = var.package_path
  architecture           = var.architecture
  memory_mb              = var.memory_mb
  timeout_seconds        = var.timeout_seconds
  reserved_concurrency   = var.reserved_concurrency
  role_arn               = module.iam.role_arn
  environment            = local.environment
  log_retention_days     = var.log_retention_days
  kms_key_arn            = module.storage.kms_key_arn
  deployments_bucket     = module.storage.deployments_bucket
  deployments_bucket_arn = module.storage.deployments_bucket_arn
  manifest_key           = local.manifest_key
}

module "api" {
  source             = "../../modules/api"
  name               = var.name
  function_name      = module.lambda.function_name
  invoke_arn         = module.lambda.invoke_arn
  kms_key_arn        = module.storage.kms_key_arn
  log_retention_days = var.log_retention_days
  jwt_issuer         = var.jwt_issuer
  jwt_audience       = var.jwt_audience
}

module "observability" {
  source          = "../../modules/observability"
  name            = var.name
  function_name   = module.lambda.function_name
  timeout_seconds = var.timeout_seconds
  api_id          = module.api.api_id
  kms_key_arn     = module.storage.kms_key_arn
  alarm_emails    = var.alarm_emails
  plugins         = var.plugins
}
