output "function_name" {
  description = "The function's name."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "The function's ARN."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "The ARN API Gateway integrations invoke."
  value       = aws_lambda_function.this.invoke_arn
}

output "log_group" {
  description = "Where the function's logs (and EMF metrics) go."
  value       = aws_cloudwatch_log_group.this.name
}
