"""The defaults every state machine here shares: Standard, traced, logged without execution data,
timed out a margin after the stage's task timeout (and the retries' waits before the task)."""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.checkov import skip_check
from stacks.config import StageConfig
from stacks.nag import acknowledge, default_policy

# The whole execution's limit: a backstop past the task timeout, so an execution can never
# wait forever (it then counts as ExecutionsTimedOut, not ExecutionsFailed).
EXECUTION_TIMEOUT_MARGIN_SECONDS: Final = 5 * 60


def logged_state_machine(
    scope: Construct,
    *,
    config: StageConfig,
    definition: sfn.IChainable,
    comment: str,
    retry_wait_seconds: int = 0,
) -> tuple[sfn.StateMachine, logs.LogGroup]:
    """A Standard state machine `StateMachine` with X-Ray tracing, an execution timeout
    `EXECUTION_TIMEOUT_MARGIN_SECONDS` past the stage's task timeout plus `retry_wait_seconds` (the
    longest its retries may wait before the task runs), and its own log group
    `StateMachineLogGroup` (retention and removal policy from the stage) in `scope`."""
    log_group = logs.LogGroup(
        scope,
        "StateMachineLogGroup",
        retention=config.log_retention,
        removal_policy=config.removal_policy,
    )
    state_machine = sfn.StateMachine(
        scope,
        "StateMachine",
        comment=comment,
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        state_machine_type=sfn.StateMachineType.STANDARD,
        tracing_enabled=True,
        timeout=Duration.seconds(config.task_timeout_seconds + retry_wait_seconds + EXECUTION_TIMEOUT_MARGIN_SECONDS),
        # Execution data stays out of the logs: it would carry whole task tokens.
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
    )
    acknowledge(
        default_policy(state_machine.role),
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray tracing and the CloudWatch Logs delivery actions (logs:CreateLogDelivery and "
        "friends) support no resource-level permissions.",
    )
    skip_check(
        log_group,
        "CKV_AWS_158",
        "No customer-managed key: execution data is not logged (includeExecutionData false), so these "
        "logs hold state names and errors, never task tokens; CloudWatch Logs encrypts them at rest.",
    )
    return state_machine, log_group
