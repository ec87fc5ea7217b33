"""The deployed stacks' outputs (resource names), read from CloudFormation on the target."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from callbackctl.deployment.targets import STACK_NAME, Target
from callbackctl.errors import TargetUnreachable


@dataclass(frozen=True, kw_only=True)
class StackInfo:
    state_machine_arn: str
    task_tokens_table: str
    poll_state_table: str
    jobs_table: str
    create_job_function: str
    poller_function: str
    simulated_api_function: str
    poller_schedule: str  # shard 0's
    poller_schedules_joined: str  # every shard's schedule, comma-separated
    dead_letter_queue_url: str

    @property
    def poller_schedules(self) -> tuple[str, ...]:
        """One schedule per shard, in shard order."""
        return tuple(name for name in self.poller_schedules_joined.split(",") if name)

    @property
    def shards(self) -> tuple[str, ...]:
        return tuple(str(n) for n in range(len(self.poller_schedules)))

    def functions(self) -> dict[str, str]:
        """The stack's functions by the short names the command line accepts."""
        return {
            "create-job": self.create_job_function,
            "poller": self.poller_function,
            "simulated-api": self.simulated_api_function,
        }


_OUTPUT_KEYS = {
    "StateMachineArn": "state_machine_arn",
    "TaskTokensTableName": "task_tokens_table",
    "PollStateTableName": "poll_state_table",
    "JobsTableName": "jobs_table",
    "CreateJobFunctionName": "create_job_function",
    "PollerFunctionName": "poller_function",
    "SimulatedApiFunctionName": "simulated_api_function",
    "PollerScheduleName": "poller_schedule",
    "PollerScheduleNames": "poller_schedules_joined",
    "DeadLetterQueueUrl": "dead_letter_queue_url",
}


def stack_outputs(target: Target, stack_name: str, required: tuple[str, ...] = ()) -> dict[str, str]:
    """A stack's outputs by key; says what to do when the stack, or one of ``required``, is missing."""
    try:
        stacks = target.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as err:
        if "does not exist" in str(err):
            raise TargetUnreachable(
                f"stack {stack_name} is not deployed on {target.name}: run `make deploy TARGET={target.name}`"
            ) from None
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = sorted(set(required) - set(outputs))
    if missing:
        raise TargetUnreachable(
            f"stack {stack_name} on {target.name} lacks outputs {', '.join(missing)} "
            f"(status {stacks[0].get('StackStatus')}): redeploy with `make deploy TARGET={target.name}`"
        )
    return outputs


def stack_info(target: Target, stack_name: str = STACK_NAME) -> StackInfo:
    """The callback stack's resource names, or an error that says how to deploy it."""
    outputs = stack_outputs(target, stack_name, tuple(_OUTPUT_KEYS))
    return StackInfo(**{field: outputs[key] for key, field in _OUTPUT_KEYS.items()})
