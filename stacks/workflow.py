"""The callback workflow: a Standard state machine that waits on a task token, and the
`create_job` function it hands the token to."""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from common import end_states
from common.errors import JOB_FAILURE_ERRORS, JOB_TIMED_OUT, RECORD_WRITE_FAILED, WORKFLOW_RUNTIME_ERROR
from stacks.config import StageConfig
from stacks.lambda_function import LambdaSource, StandardFunction
from stacks.nag import acknowledge_invoke_wildcard
from stacks.state_machine import logged_state_machine

# Where the job result sent with SendTaskSuccess lands: the execution output is the
# execution input plus this key.
RESULT_PATH: Final = "$.jobResult"
# A caught error ({"Error": ..., "Cause": ...}) replaces the state data before a Fail state
# re-raises it: the input may not be an object (then no path inside it could take the error).
ERROR_RESULT_PATH: Final = "$"
# Error names the poller sends with SendTaskFailure: one home, lambda_src/common/errors.py.
JOB_FAILED_ERRORS: Final = JOB_FAILURE_ERRORS
# Transient errors of a Lambda invocation: the service's own (the CDK default set), and a function
# that timed out or whose sandbox died. create_job is idempotent, so a retry after it started the
# job finds that job. InvalidJobInput and other handler errors are never retried.
TRANSIENT_LAMBDA_ERRORS: Final = (
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.Unknown",
    "Sandbox.Timedout",
)
# create_job's own transient error: DynamoDB refused or did not answer a write of the job's records.
CREATE_JOB_TRANSIENT_ERRORS: Final = (*TRANSIENT_LAMBDA_ERRORS, RECORD_WRITE_FAILED)
CREATE_JOB_RETRY_ATTEMPTS: Final = 6
# Throttling (a burst past the account's or function's concurrency): the handler never ran. Retried
# longer: waits from 2 s up to 60 s with full jitter, about 28 minutes in all on average, so a burst
# drains instead of failing. On the local stage create_job runs 10 at a time; under 2,000 executions
# started at once (make bench, 2 cores) it created 3-8 jobs a second: with 30 attempts (~6.5 minutes)
# 6 of the 2,000 ran out of attempts (2026-12-02 03:43 UTC). Each retry is a state transition (billed
# on AWS) and, on the local cloud, a throttled invoke its one process must answer: with waits from 1 s
# up to 30 s, 1,000 executions at once made 11.6 throttled invokes each, 35% of LocalStack's requests
# (2026-12-02 05:45). Starting at 2 s and capped at 60 s roughly halves them in a simulation of the
# burst, for a drain ~5% longer.
THROTTLED_ERROR: Final = "Lambda.TooManyRequestsException"
THROTTLED_RETRY_ATTEMPTS: Final = 60
THROTTLED_INTERVAL_SECONDS: Final = 2
THROTTLED_MAX_DELAY_SECONDS: Final = 60
# The longest the throttled retries can wait in all (each wait drawn up to min(60 s, 2 s x 2^n)): the
# execution's own timeout leaves room for it before the task's (state_machine.py).
THROTTLED_MAX_WAIT_SECONDS: Final = sum(
    min(THROTTLED_MAX_DELAY_SECONDS, THROTTLED_INTERVAL_SECONDS * 2**n) for n in range(THROTTLED_RETRY_ATTEMPTS)
)


class CallbackWorkflow(Construct):
    """The state machine, its log group and the `create_job` function.

    `CreateJob` invokes `create_job` with `.waitForTaskToken` and then waits for the poller to
    call SendTaskSuccess, SendTaskFailure or SendTaskHeartbeat with that token. It is retried on
    transient Lambda errors with exponential backoff and full jitter: create_job is idempotent
    (the job is keyed on the execution and its redrive count), and a retried task's new token
    replaces the old one in the record.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        source: LambdaSource,
        task_tokens_table: dynamodb.ITable,
        poll_table: dynamodb.ITable,
        simulated_api: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.create_job_function = StandardFunction(
            self,
            "CreateJobFunction",
            config=config,
            source=source,
            handler="create_job.handler.lambda_handler",
            description="Starts a job on the simulated API and stores the execution's task token",
            timeout_seconds=config.create_job_timeout_seconds,
            reserved_concurrent_executions=config.create_job_reserved_concurrency,
            environment={
                "TASK_TOKENS_TABLE_NAME": task_tokens_table.table_name,
                "POLL_STATE_TABLE_NAME": poll_table.table_name,
                "SIMULATED_API_FUNCTION_NAME": simulated_api.function_name,
                "POLL_SCHEDULE": config.poll_schedule.to_json(),
                "MAX_ATTEMPTS": str(config.max_attempts),
                "MAX_ATTEMPTS_LIMIT": str(config.max_attempts_limit),
                "MAX_INPUT_BYTES": str(config.max_input_bytes),
                "RECORD_TTL_DAYS": str(config.record_ttl_days),
            },
        )

        create_job = tasks.LambdaInvoke(
            self,
            "CreateJob",
            comment="Start the job, then wait for the poller to report its outcome",
            lambda_function=self.create_job_function,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object(
                {
                    "taskToken": sfn.JsonPath.task_token,
                    "executionId": sfn.JsonPath.execution_id,
                    # The job's idempotency key is the execution and its redrive count: every
                    # retry of the task finds the same job, a redriven execution starts a new one.
                    **(
                        {"redriveCount": sfn.JsonPath.number_at("$$.Execution.RedriveCount")}
                        if config.pass_redrive_count
                        else {}
                    ),
                    # Which attempt of the task this is: the token of the latest attempt is kept,
                    # even if an earlier invocation (given up on after a client timeout) ends later.
                    "retryCount": sfn.JsonPath.number_at("$$.State.RetryCount"),
                    "input": sfn.JsonPath.entire_payload,
                }
            ),
            task_timeout=sfn.Timeout.duration(Duration.seconds(config.task_timeout_seconds)),
            heartbeat_timeout=sfn.Timeout.duration(Duration.seconds(config.heartbeat_timeout_seconds)),
            result_path=RESULT_PATH,
            retry_on_service_exceptions=False,
        )

        create_job.add_retry(
            errors=[THROTTLED_ERROR],
            interval=Duration.seconds(THROTTLED_INTERVAL_SECONDS),
            max_attempts=THROTTLED_RETRY_ATTEMPTS,
            backoff_rate=2,
            max_delay=Duration.seconds(THROTTLED_MAX_DELAY_SECONDS),
            jitter_strategy=sfn.JitterType.FULL,
        )
        create_job.add_retry(
            errors=list(CREATE_JOB_TRANSIENT_ERRORS),
            interval=Duration.seconds(1),
            max_attempts=CREATE_JOB_RETRY_ATTEMPTS,
            backoff_rate=2,
            max_delay=Duration.seconds(20),
            jitter_strategy=sfn.JitterType.FULL,
        )

        def reraise(state_id: str, comment: str) -> sfn.Fail:
            # Re-raise the caught error so the execution reports the original error and cause.
            return sfn.Fail(
                self,
                state_id,
                comment=comment,
                error_path="$.Error",
                cause_path="$.Cause",
            )

        # Step Functions refuses to end an execution with an error named `States.*` from a Fail
        # state, so timeouts and other runtime errors end with names of our own.
        timed_out = sfn.Fail(
            self,
            end_states.TIMED_OUT,
            comment="The task timed out or missed a heartbeat",
            error=JOB_TIMED_OUT,
            cause="No callback before the task timeout, or no heartbeat before the heartbeat timeout",
        )
        route_error = (
            sfn.Choice(self, "RouteError", comment="Keep custom error names; rename States.* errors")
            .when(
                sfn.Condition.string_matches("$.Error", "States.*"),
                sfn.Fail(
                    self,
                    end_states.RUNTIME_ERROR,
                    comment="A Step Functions runtime error (States.*) outside the job's control",
                    error=WORKFLOW_RUNTIME_ERROR,
                    cause_path="$.Cause",
                ),
            )
            .otherwise(reraise(end_states.ERROR, "Anything else, such as invalid input or a create_job error"))
        )
        create_job.add_catch(
            timed_out, errors=[sfn.Errors.HEARTBEAT_TIMEOUT, sfn.Errors.TIMEOUT], result_path=ERROR_RESULT_PATH
        )
        create_job.add_catch(
            reraise(end_states.JOB_FAILED, "The job failed, its result was too large, or the poller gave up on it"),
            errors=list(JOB_FAILED_ERRORS),
            result_path=ERROR_RESULT_PATH,
        )
        create_job.add_catch(route_error, errors=[sfn.Errors.ALL], result_path=ERROR_RESULT_PATH)
        definition = create_job.next(sfn.Succeed(self, end_states.JOB_SUCCEEDED))

        self.state_machine, self.log_group = logged_state_machine(
            self,
            config=config,
            definition=definition,
            comment="Step Functions task-token callback pattern",
            retry_wait_seconds=THROTTLED_MAX_WAIT_SECONDS,
        )
        acknowledge_invoke_wildcard(
            self.state_machine.role,
            self.create_job_function,
            "lambda:InvokeFunction on create_job's versions and aliases, added by the "
            "LambdaInvoke task; the function itself is named.",
        )
