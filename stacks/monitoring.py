"""What a person looks at on AWS: a dashboard of the callback pattern, and alarms with the SNS
topic they notify (failed or timed-out executions, poller errors, jobs the poller keeps failing to
process or has no time for, records whose execution ended without a callback, the age of the oldest
waiting job, DLQ messages)."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.checkov import skip_check
from stacks.config import StageConfig
from stacks.nag import acknowledge, cfn_resource

PERIOD = Duration.minutes(5)
# Written by the poller as embedded metrics (lambda_src/poller/metrics.py).
POLLER_NAMESPACE = "CallbackPattern/Poller"
# Periods in a row with job errors (or deferred jobs) before the alarm fires: a passing throttle
# or a single busy run is not news.
JOB_ERROR_PERIODS = 3
DEFERRED_PERIODS = 2
# The oldest waiting job is news once it has used this share of the task timeout: its execution
# is close to ending TimedOut.
OLDEST_JOB_AGE_SHARE = 0.8


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
        skip_check(
            self.topic,
            "CKV_AWS_26",
            "No KMS key: alarm notifications carry alarm names and states, no job data or tokens, and "
            "CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key.",
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

        def poller_metric(name: str, statistic: str = "Sum", label: str | None = None) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=POLLER_NAMESPACE,
                metric_name=name,
                dimensions_map={"FunctionName": poller.function_name},
                period=PERIOD,
                statistic=statistic,
                label=label,
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
        oldest_limit = int(config.task_timeout_seconds * OLDEST_JOB_AGE_SHARE)
        self.oldest_job_age = poller_metric("OldestJobAgeSeconds", "Maximum").create_alarm(
            self,
            "OldestJobAgeAlarm",
            alarm_description=f"A job has waited {oldest_limit} s ({OLDEST_JOB_AGE_SHARE:.0%} of the task timeout): "
            "its execution will soon end TimedOut (the job API is slow or down, or the poller is behind)",
            threshold=oldest_limit,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.oldest_job_age.add_alarm_action(action)
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
            self.oldest_job_age,
            self.dead_letters,
        )
        self.dashboard = self._dashboard(state_machine, poller, poller_metric)

    def _dashboard(
        self,
        state_machine: sfn.IStateMachine,
        poller: lambda_.IFunction,
        poller_metric: Callable[..., cloudwatch.Metric],
    ) -> cloudwatch.Dashboard:
        """Waiting jobs and their age, callbacks by kind, poller runs, execution outcomes, alarms."""
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))

        def graph(
            title: str, metrics: list[cloudwatch.IMetric], right: list[cloudwatch.IMetric] | None = None
        ) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=metrics, right=right or [], width=8, height=6)

        dashboard.add_widgets(
            graph(
                "Waiting jobs",
                [poller_metric("DueJobs", "Maximum", "jobs due per poller run")],
                [poller_metric("JobsDeferred", "Sum", "deferred (no time left)")],
            ),
            graph(
                "Age of the oldest waiting job (s)",
                [poller_metric("OldestJobAgeSeconds", "Maximum", "oldest job age")],
                [poller_metric("DueLagSeconds", "Maximum", "most overdue poll")],
            ),
            graph(
                "Callbacks sent",
                [
                    poller_metric("JobsSucceeded", label="SendTaskSuccess"),
                    poller_metric("JobsFailed", label="SendTaskFailure"),
                    poller_metric("Heartbeats", label="SendTaskHeartbeat"),
                    poller_metric("JobsExpired", label="expired"),
                    poller_metric("JobsCancelled", label="cancelled"),
                ],
            ),
        )
        dashboard.add_widgets(
            graph(
                "Poller runs",
                [
                    poller.metric_duration(period=PERIOD, statistic="Maximum", label="run duration max (ms)"),
                    poller.metric_duration(period=PERIOD, statistic="Average", label="run duration avg (ms)"),
                ],
                [
                    poller_metric("JobErrors", label="job errors"),
                    poller.metric_errors(period=PERIOD, label="run errors"),
                ],
            ),
            graph(
                "Execution outcomes",
                [
                    state_machine.metric_succeeded(period=PERIOD, label="succeeded"),
                    state_machine.metric_failed(period=PERIOD, label="failed"),
                    state_machine.metric_timed_out(period=PERIOD, label="timed out"),
                    state_machine.metric_aborted(period=PERIOD, label="aborted"),
                ],
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=8, height=6),
        )
        return dashboard
