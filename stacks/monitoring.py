"""Alarms a person should look at, and the SNS topic they notify: failed or timed-out executions,
poller errors, jobs the poller keeps failing to process or has no time for, records whose
execution ended without a callback, DLQ messages."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import StageConfig
from stacks.nag import acknowledge, cfn_resource

PERIOD = Duration.minutes(5)
# Written by the poller as embedded metrics (lambda_src/poller/metrics.py).
POLLER_NAMESPACE = "CallbackPattern/Poller"
# Periods in a row with job errors (or deferred jobs) before the alarm fires: a passing throttle
# or a single busy run is not news.
JOB_ERROR_PERIODS = 3
DEFERRED_PERIODS = 2


class Monitoring(Construct):
    """One alarm per symptom, each notifying `topic` (with an e-mail subscription when the stage
    names an address). Raised by a single occurrence within five minutes, except job errors
    (three periods in a row) and deferred jobs (two)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        state_machine: sfn.IStateMachine,
        poller: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "AlarmTopic", display_name="Callback pattern alarms", enforce_ssl=True)
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        acknowledge(
            cfn_resource(self.topic),
            "AwsSolutions-SNS2",
            "Alarm notifications carry no data; CloudWatch cannot publish to a topic encrypted with the "
            "AWS-managed SNS key.",
        )
        action = cloudwatch_actions.SnsAction(self.topic)

        def alarm(alarm_id: str, metric: cloudwatch.Metric, description: str, periods: int = 1) -> cloudwatch.Alarm:
            created = metric.create_alarm(
                self,
                alarm_id,
                alarm_description=description,
                threshold=1,
                evaluation_periods=periods,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(action)
            return created

        def poller_metric(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=POLLER_NAMESPACE,
                metric_name=name,
                dimensions_map={"FunctionName": poller.function_name},
                period=PERIOD,
                statistic="Sum",
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
        self.poller_job_errors = alarm(
            "PollerJobErrorsAlarm",
            poller_metric("JobErrors"),
            "The poller could not process some jobs in three 5-minute periods in a row "
            "(they stay pending and are retried; see the poller's logs)",
            periods=JOB_ERROR_PERIODS,
        )
        self.deferred_jobs = alarm(
            "DeferredJobsAlarm",
            poller_metric("JobsDeferred"),
            "Poller runs ran out of time before all due jobs in two 5-minute periods in a row: the backlog "
            "outgrows the poller (raise its concurrency or timeout, or fan it out)",
            periods=DEFERRED_PERIODS,
        )
        self.expired_records = alarm(
            "ExpiredRecordsAlarm",
            poller_metric("JobsExpired"),
            "Executions ended (timed out or failed) while their job was still running; the poller cancelled "
            "those jobs (see records with status EXPIRED)",
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
            self.deferred_jobs,
            self.expired_records,
            self.dead_letters,
        )
