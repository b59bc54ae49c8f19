output "state_machine_arns" {
  description = "workflow name -> state machine ARN (start an execution with its input)."
  value       = { for name, machine in aws_sfn_state_machine.this : name => machine.arn }
}

output "definitions" {
  description = "workflow name -> its Amazon States Language definition (for tests)."
  value       = local.definitions
}

output "policy_statements" {
  description = "The state machines' role's permissions (for tests)."
  value       = local.policy_statements
}
