output "role_arn" {
  description = "The Lambda execution role."
  value       = aws_iam_role.lambda.arn
}

output "policy_statements" {
  description = "The statements of the role's inline policy (for review and tests)."
  value       = local.policy_statements
}

output "role_name" {
  description = "The Lambda execution role's name (other modules add the policies their resources need)."
  value       = aws_iam_role.lambda.name
}
