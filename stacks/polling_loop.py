"""The baseline the benchmark compares against: a Wait -> CheckStatus -> Choice polling loop.

Deployed only for `callbackctl bench` (`cdk deploy -c baseline=true PollingLoopBaseline`), next to
the callback stack. It drives the same simulated API (its own instance of the `SimulatedApi`
construct, same code and settings, so its counts separate cleanly from the callback stack's) and
spends a state transition on every step of every poll, which the callback design avoids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from common import end_states
from common.errors import JOB_FAILED, MAX_ATTEMPTS_EXCEEDED
from stacks.config import StageConfig
from stacks.lambda_function import lambda_source
from stacks.nag import acknowledge_invoke_wildcard
from stacks.simulated_api import SimulatedApi
from stacks.state_machine import logged_state_machine

BASELINE_STACK_NAME: Final = "PollingLoopBaseline"
LAMBDA_SRC_DIR: Final = Path(__file__).resolve().parent.parent / "lambda_src"
# Where the loop keeps the job id and the latest status report in the execution's data.
JOB_PATH: Final = "$.job"
CHECK_PATH: Final = "$.check"


class PollingLoop(Construct):
    """CreateJob -> Wait -> CheckStatus -> Choice (COMPLETED: Succeed, FAILED: Fail, else: Wait).

    The execution input is the callback workflow's (`simulate` and `payload` are required here:
    the loop passes them to CREATE_JOB as they are). The loop gives up after the stage's
    `max_attempts` checks, using the API's own `pollCount`, so giving up costs no extra state.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        simulated_api: lambda_.IFunction,
        wait_seconds: int,
    ) -> None:
        super().__init__(scope, construct_id)
        if wait_seconds < 1:
            raise ValueError(f"wait_seconds must be at least 1, got {wait_seconds}")
        create_job = tasks.LambdaInvoke(
            self,
            "CreateJob",
            comment="Start the job on the simulated API",
            lambda_function=simulated_api,
            payload=sfn.TaskInput.from_object(
                {
                    "action": "CREATE_JOB",
                    # The API refuses a CREATE_JOB without one; the execution is the loop's job.
                    "idempotencyKey": sfn.JsonPath.string_at("$$.Execution.Id"),
                    "simulate": sfn.JsonPath.object_at("$.simulate"),
                    "payload": sfn.JsonPath.object_at("$.payload"),
                }
            ),
            result_selector={"jobId": sfn.JsonPath.string_at("$.Payload.jobId")},
            result_path=JOB_PATH,
        )
        wait = sfn.Wait(
            self,
            "WaitBeforeCheck",
            comment="One poll interval",
            time=sfn.WaitTime.duration(Duration.seconds(wait_seconds)),
        )
        check_status = tasks.LambdaInvoke(
            self,
            "CheckStatus",
            comment="Ask the simulated API for the job's status",
            lambda_function=simulated_api,
            payload=sfn.TaskInput.from_object(
                {"action": "CHECK_STATUS", "jobId": sfn.JsonPath.string_at(f"{JOB_PATH}.jobId")}
            ),
            result_selector={"report": sfn.JsonPath.object_at("$.Payload")},
            result_path=CHECK_PATH,
        )
        status = f"{CHECK_PATH}.report.status"
        succeeded = sfn.Succeed(self, end_states.JOB_SUCCEEDED)
        failed = sfn.Fail(
            self,
            end_states.JOB_FAILED,
            comment="The job failed",
            error=JOB_FAILED,
            cause_path=f"{CHECK_PATH}.report.error",
        )
        gave_up = sfn.Fail(
            self,
            end_states.MAX_ATTEMPTS_EXCEEDED,
            comment="Still running after the stage's max_attempts checks",
            error=MAX_ATTEMPTS_EXCEEDED,
            cause="the job was still IN_PROGRESS after the maximum number of status checks",
        )
        route = (
            sfn.Choice(self, "IsJobDone", comment="Finished, given up, or poll again")
            .when(sfn.Condition.string_equals(status, "COMPLETED"), succeeded)
            .when(sfn.Condition.string_equals(status, "FAILED"), failed)
            .when(
                sfn.Condition.number_greater_than_equals(f"{CHECK_PATH}.report.pollCount", config.max_attempts),
                gave_up,
            )
            .otherwise(wait)
        )
        definition = create_job.next(wait).next(check_status).next(route)

        self.state_machine, self.log_group = logged_state_machine(
            self,
            config=config,
            definition=definition,
            comment="Baseline for the benchmark: a Wait -> CheckStatus -> Choice polling loop",
        )
        acknowledge_invoke_wildcard(
            self.state_machine.role,
            simulated_api,
            "lambda:InvokeFunction on the simulated API's versions and aliases, added by the "
            "LambdaInvoke tasks; the function itself is named.",
        )


class PollingLoopStack(Stack):
    """The simulated API (its own copy) and the polling-loop state machine that drives it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        wait_seconds: int,
        lambda_src_dir: Path = LAMBDA_SRC_DIR,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        source = lambda_source(self, lambda_src_dir)
        simulated_api = SimulatedApi(self, "SimulatedApi", config=config, source=source)
        loop = PollingLoop(
            self, "Workflow", config=config, simulated_api=simulated_api.function, wait_seconds=wait_seconds
        )
        simulated_api.table.grant_read_write_data(simulated_api.function)

        # Output keys are read by callbackctl bench: keep them stable.
        outputs = {
            "StateMachineArn": loop.state_machine.state_machine_arn,
            "SimulatedApiFunctionName": simulated_api.function.function_name,
            "JobsTableName": simulated_api.table.table_name,
        }
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)


def default_wait_seconds(config: StageConfig) -> int:
    """The loop polls as often as the callback's poller runs (real seconds), at least every second."""
    return max(1, round(config.schedule_interval_seconds))
