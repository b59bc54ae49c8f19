output "kms_key_arn" {
  description = "The customer-managed key encrypting buckets, table, logs and alarms topic."
  value       = aws_kms_key.this.arn
}

output "deployments_bucket" {
  description = "Bucket holding the deployed manifest, components (by digest) and signed compiled artifacts."
  value       = aws_s3_bucket.this["deployments"].bucket
}

output "deployments_bucket_arn" {
  description = "ARN of the deployments bucket."
  value       = aws_s3_bucket.this["deployments"].arn
}

output "data_bucket" {
  description = "Bucket holding the plugins' blob containers (one prefix per container)."
  value       = aws_s3_bucket.this["data"].bucket
}

output "data_bucket_arn" {
  description = "ARN of the data bucket."
  value       = aws_s3_bucket.this["data"].arn
}

output "kv_table" {
  description = "DynamoDB table holding every kv store (one prefix per store)."
  value       = aws_dynamodb_table.kv.name
}

output "kv_table_arn" {
  description = "ARN of the kv table (its index ARNs are this plus /index/*)."
  value       = aws_dynamodb_table.kv.arn
}

output "kv_stream_arn" {
  description = "The kv table's stream (NEW_AND_OLD_IMAGES): the change events of every store."
  value       = aws_dynamodb_table.kv.stream_arn
}

output "encryption" {
  description = "The buckets' encryption settings (for tests)."
  value       = aws_s3_bucket_server_side_encryption_configuration.this
}

output "public_access_blocks" {
  description = "The buckets' public access blocks (for tests)."
  value       = aws_s3_bucket_public_access_block.this
}

output "bucket_policies" {
  description = "The buckets' policies, JSON (for tests)."
  value       = [for policy in aws_s3_bucket_policy.tls_only : policy.policy]
}

output "table" {
  description = "The kv table resource (for tests)."
  value       = aws_dynamodb_table.kv
}

output "versioning" {
  description = "The buckets' versioning settings (for tests)."
  value       = aws_s3_bucket_versioning.this
}

output "lifecycle" {
  description = "The buckets' lifecycle rules (for tests)."
  value       = aws_s3_bucket_lifecycle_configuration.this
}
