output "api_id" {
  description = "The HTTP API's id (for alarms and dashboards)."
  value       = aws_apigatewayv2_api.this.id
}

output "url" {
  description = "The invoke URL: every path goes to plughost."
  value       = aws_apigatewayv2_stage.default.invoke_url
}
