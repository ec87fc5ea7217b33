"""Alarms a person should look at: failed or timed-out executions, poller errors, jobs the poller
keeps failing to process, DLQ messages."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

PERIOD = Duration.minutes(5)
# Written by the poller as embedded metrics (lambda_src/poller/metrics.py).
POLLER_NAMESPACE = "CallbackPattern/Poller"
# Periods in a row with job errors before the job-errors alarm fires: a passing throttle is not news.
JOB_ERROR_PERIODS = 3


class Monitoring(Construct):
    """One alarm per symptom, raised by a single occurrence within five minutes (job errors: in
    three periods in a row)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        poller: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)

        def alarm(alarm_id: str, metric: cloudwatch.Metric, description: str) -> cloudwatch.Alarm:
            return metric.create_alarm(
                self,
                alarm_id,
                alarm_description=description,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )

        self.executions_failed = alarm(
            "ExecutionsFailedAlarm",
            state_machine.metric_failed(period=PERIOD, statistic="Sum"),
            "Executions ended in a Fail state (JobFailed, TimedOut or Error)",
        )
        self.executions_timed_out = alarm(
            "ExecutionsTimedOutAlarm",
            state_machine.metric_timed_out(period=PERIOD, statistic="Sum"),
            "Executions timed out as a whole",
        )
        self.poller_errors = alarm(
            "PollerErrorsAlarm",
            poller.metric_errors(period=PERIOD, statistic="Sum"),
            "The poller function raised an error",
        )
        self.poller_job_errors = cloudwatch.Metric(
            namespace=POLLER_NAMESPACE,
            metric_name="JobErrors",
            dimensions_map={"FunctionName": poller.function_name},
            period=PERIOD,
            statistic="Sum",
        ).create_alarm(
            self,
            "PollerJobErrorsAlarm",
            alarm_description="The poller could not process some jobs in three 5-minute periods in a row "
            "(they stay pending and are retried; see the poller's logs)",
            threshold=1,
            evaluation_periods=JOB_ERROR_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letters = alarm(
            "DeadLetterQueueAlarm",
            dead_letter_queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            "Scheduler could not deliver poller invocations; see the dead-letter queue",
        )
        self.alarms = (
            self.executions_failed,
            self.executions_timed_out,
            self.poller_errors,
            self.poller_job_errors,
            self.dead_letters,
        )
