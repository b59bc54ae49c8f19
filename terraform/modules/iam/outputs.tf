output "role_arn" {
  description = "The Lambda execution role."
  value       = aws_iam_role.lambda.arn
}

output "policy_statements" {
  description = "The statements of the role's inline policy (for review and tests)."
  value       = local.policy_statements
}
