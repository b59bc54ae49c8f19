"""moto's server with the two Step Functions actions the AWS provider needs, for `terraform apply`.

The AWS provider (5.x) validates a state machine's definition with
ValidateStateMachineDefinition before it creates it, and lists its versions
(ListStateMachineVersions) after; moto 5.2.5 implements neither and answers 500, which the
provider retries until it gives up — so the dev stack, which has state machines
(terraform/modules/workflows), could not be applied against moto. The versions list is
empty (the stack publishes none).
This wrapper answers it with a structural check of the Amazon States Language the stack
relies on: the definition is JSON, `StartAt` names a state, and every `Next` (also in a
`Catch`) names a state; anything else is reported as AWS reports it (`result: FAIL` with
diagnostics). Real AWS checks much more; `terraform test` asserts the definitions' shape.

Usage: the same arguments as moto_server (scripts/check-terraform starts it).
"""

import json
import sys

from moto.core.responses import ActionResult
from moto.server import main
from moto.stepfunctions.responses import StepFunctionResponse


def _diagnostics(definition):
    try:
        machine = json.loads(definition)
    except (TypeError, ValueError) as error:
        return [f"the definition is not JSON: {error}"]
    states = machine.get("States") or {}
    problems = []
    if machine.get("StartAt") not in states:
        problems.append(f"StartAt `{machine.get('StartAt')}` names no state")
    for name, state in states.items():
        targets = [state.get("Next")] + [c.get("Next") for c in state.get("Catch", [])]
        for target in filter(None, targets):
            if target not in states:
                problems.append(f"state `{name}` goes to `{target}`, which is not a state")
        if state.get("Type") not in ("Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"):
            problems.append(f"state `{name}` has no valid Type")
    return problems


def validate_state_machine_definition(self):
    problems = _diagnostics(self._get_param("definition"))
    diagnostics = [
        {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": p, "location": "/"} for p in problems
    ]
    return ActionResult({"result": "FAIL" if problems else "OK", "diagnostics": diagnostics, "truncated": False})


def list_state_machine_versions(self):
    # The provider reads a new state machine's published versions; the stack publishes none.
    return ActionResult({"stateMachineVersions": []})


StepFunctionResponse.validate_state_machine_definition = validate_state_machine_definition
StepFunctionResponse.list_state_machine_versions = list_state_machine_versions

if __name__ == "__main__":
    sys.exit(main())
