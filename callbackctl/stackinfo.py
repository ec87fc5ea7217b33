"""The deployed stack's outputs (resource names), read from CloudFormation on the target."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError, EndpointConnectionError

from callbackctl.targets import STACK_NAME, Target, UsageError


@dataclass(frozen=True, kw_only=True)
class StackInfo:
    state_machine_arn: str
    task_tokens_table: str
    jobs_table: str
    create_job_function: str
    poller_function: str
    simulated_api_function: str
    poller_schedule: str
    dead_letter_queue_url: str


_OUTPUT_KEYS = {
    "StateMachineArn": "state_machine_arn",
    "TaskTokensTableName": "task_tokens_table",
    "JobsTableName": "jobs_table",
    "CreateJobFunctionName": "create_job_function",
    "PollerFunctionName": "poller_function",
    "SimulatedApiFunctionName": "simulated_api_function",
    "PollerScheduleName": "poller_schedule",
    "DeadLetterQueueUrl": "dead_letter_queue_url",
}


def stack_info(target: Target, stack_name: str = STACK_NAME) -> StackInfo:
    """Read the outputs, or say what to do when the stack (or the target) is not there."""
    try:
        stacks = target.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except EndpointConnectionError:
        raise UsageError(
            f"cannot reach {target.endpoint_url}: start the local cloud with `make localcloud-start`"
            if target.name == "localcloud"
            else f"cannot reach the {target.name} endpoint {target.endpoint_url}"
        ) from None
    except ClientError as err:
        if "does not exist" in str(err):
            raise UsageError(
                f"stack {stack_name} is not deployed on {target.name}: run `make deploy TARGET={target.name}`"
            ) from None
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = sorted(set(_OUTPUT_KEYS) - set(outputs))
    if missing:
        raise UsageError(
            f"stack {stack_name} on {target.name} lacks outputs {', '.join(missing)} "
            f"(status {stacks[0].get('StackStatus')}): redeploy with `make deploy TARGET={target.name}`"
        )
    return StackInfo(**{field: outputs[key] for key, field in _OUTPUT_KEYS.items()})
