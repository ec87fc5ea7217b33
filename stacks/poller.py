"""The poller: a function run on a schedule, with a dead-letter queue for failed deliveries."""

from __future__ import annotations

from typing import Final

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.checkov import skip_check
from stacks.config import StageConfig
from stacks.lambda_function import LambdaSource, StandardFunction
from stacks.nag import acknowledge, acknowledge_invoke_wildcard, cfn_resource

# Scheduler retries a delivery it could not make (throttling, a missing function) a couple of
# times; after that, or once the event is this old, it goes to the dead-letter queue.
DELIVERY_RETRY_ATTEMPTS: Final = 2
DELIVERY_MAX_EVENT_AGE: Final = Duration.minutes(5)


class PollerSchedule(Construct):
    """The `poller` function, one schedule per shard that invokes it with `{"shard": "n"}`, and
    the schedules' DLQ.

    The poller's own async retries are off: the next scheduled run is the retry, and claims
    and shard leases make a repeated run harmless anyway. The stage's `poller_reserved_concurrency`, if set, both
    caps the poller (a runaway caller cannot take the account's concurrency, nor flood the job
    API) and guarantees it (busy functions elsewhere in the account cannot throttle it).
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
        due_index_name: str,
        simulated_api: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = StandardFunction(
            self,
            "Function",
            config=config,
            source=source,
            handler="poller.handler.lambda_handler",
            description="Checks due jobs, heartbeats waiting executions and reports outcomes to Step Functions",
            timeout_seconds=config.poller_timeout_seconds,
            memory_size=256,
            retry_attempts=0,
            reserved_concurrent_executions=config.poller_reserved_concurrency,
            environment={
                "TASK_TOKENS_TABLE_NAME": task_tokens_table.table_name,
                "POLL_STATE_TABLE_NAME": poll_table.table_name,
                "DUE_INDEX_NAME": due_index_name,
                "SIMULATED_API_FUNCTION_NAME": simulated_api.function_name,
                "POLLER_CONCURRENCY": str(config.poller_concurrency),
                "CLAIM_SECONDS": str(config.claim_seconds),
                "POLL_SCHEDULE": config.poll_schedule.to_json(),
                "SEND_TASK_RATE_PER_SECOND": str(config.send_task_rate_per_second),
                "JOB_API_RATE_PER_SECOND": str(config.job_api_rate_per_second),
            },
        )
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=config.removal_policy,
        )
        # The role Scheduler assumes to invoke the poller and to dead-letter what it cannot
        # deliver (the target adds both grants to it).
        self.schedule_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": Aws.ACCOUNT_ID,
                        "aws:SourceArn": Stack.of(self).format_arn(
                            service="scheduler",
                            resource="schedule-group",
                            resource_name="default",
                        ),
                    }
                },
            ),
        )
        # One schedule per shard: each shard's run works only that shard's due jobs, so runs work
        # in parallel and no run holds more than it can finish; a shard lease keeps a second run
        # of the same shard out (lambda_src/poller/store.py).
        self.schedules = [
            scheduler.Schedule(
                self,
                "Schedule" if shard == 0 else f"Schedule{shard}",
                description=f"Runs the poller over the due jobs of shard {shard} of {config.poller_shards}",
                schedule=scheduler.ScheduleExpression.rate(Duration.minutes(config.schedule_rate_minutes)),
                target=scheduler_targets.LambdaInvoke(
                    self.function,
                    input=scheduler.ScheduleTargetInput.from_object({"shard": str(shard)}),
                    retry_attempts=DELIVERY_RETRY_ATTEMPTS,
                    max_event_age=DELIVERY_MAX_EVENT_AGE,
                    dead_letter_queue=self.dead_letter_queue,
                    role=self.schedule_role,
                ),
            )
            for shard in range(config.poller_shards)
        ]

        acknowledge_invoke_wildcard(
            self.schedule_role,
            self.function,
            "lambda:InvokeFunction on the poller's versions and aliases, added by the "
            "schedule target; the function itself is named.",
        )
        skip_check(
            self.function,
            "CKV_AWS_116",
            'Invoked asynchronously by the shard schedules with {"shard": n} and Lambda\'s retries off: the '
            "next scheduled run is the retry and takes every due job of its shard, so a failed event holds "
            "nothing to replay. "
            "Failed runs raise PollerErrorsAlarm; undeliverable ones go to the schedule's dead-letter queue.",
        )
        if config.poller_reserved_concurrency is None:
            skip_check(
                self.function,
                "CKV_AWS_115",
                "No reservation in this stage (pollerReservedConcurrency none): shard leases already keep "
                "one run per shard, and the local cloud's small concurrency quota allows no reservation. "
                "The aws stage reserves concurrency by default.",
            )
        skip_check(
            self.dead_letter_queue,
            "CKV_AWS_27",
            "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled); this CloudFormation check "
            "only looks for KmsMasterKeyId (its Terraform twin accepts SSE-SQS). It holds Scheduler's "
            "dead-letter events for {} invocations: nothing secret.",
        )
        acknowledge(
            cfn_resource(self.dead_letter_queue),
            "AwsSolutions-SQS3",
            "This queue is the schedule's dead-letter queue (a Scheduler DeadLetterConfig, "
            "which the rule does not recognise); a DLQ of a DLQ would add nothing.",
        )
