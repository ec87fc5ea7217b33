"""Alarms and the stack outputs callbackctl reads."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Synth
from .template_helpers import get_att, logical_id, resources

OUTPUTS = {
    "StateMachineArn": ("Ref", "Workflow/StateMachine"),
    "TaskTokensTableName": ("Ref", "JobStore/TaskTokensTable"),
    "PollStateTableName": ("Ref", "JobStore/PollStateTable"),
    "JobsTableName": ("Ref", "SimulatedApi/JobsTable"),
    "CreateJobFunctionName": ("Ref", "Workflow/CreateJobFunction"),
    "PollerFunctionName": ("Ref", "Poller/Function"),
    "SimulatedApiFunctionName": ("Ref", "SimulatedApi/Function"),
    "PollerScheduleName": ("Ref", "Poller/Schedule"),  # shard 0's, for older tools
    # Every shard's schedule, comma-joined: the local stage's one shard makes it a single name.
    "PollerScheduleNames": ("Ref", "Poller/Schedule"),
    "DeadLetterQueueUrl": ("Ref", "Poller/DeadLetterQueue"),
    "AlarmTopicArn": ("Ref", "Monitoring/AlarmTopic"),
}


def test_output_keys_are_stable(template_json: dict[str, Any]) -> None:
    assert set(template_json["Outputs"]) == set(OUTPUTS)


@pytest.mark.parametrize(("key", "expected"), OUTPUTS.items())
def test_outputs_point_at_the_right_resources(
    template_json: dict[str, Any], key: str, expected: tuple[str, str]
) -> None:
    intrinsic, path = expected
    assert template_json["Outputs"][key]["Value"] == {intrinsic: logical_id(template_json, path)}


def test_the_aws_stage_outputs_every_shards_schedule_in_shard_order(aws_synth: Synth) -> None:
    outputs = aws_synth.template["Outputs"]
    assert set(outputs) == set(OUTPUTS)
    schedules = [logical_id(aws_synth.template, "Poller/Schedule" + (str(n) if n else "")) for n in range(8)]
    assert outputs["PollerScheduleNames"]["Value"] == {"Fn::Join": [",", [{"Ref": s} for s in schedules]]}
    assert outputs["PollerScheduleName"]["Value"] == {"Ref": schedules[0]}
    assert outputs["PollStateTableName"]["Value"] == {"Ref": logical_id(aws_synth.template, "JobStore/PollStateTable")}


def _alarm(template_json: dict[str, Any], path: str) -> dict[str, Any]:
    return dict(template_json["Resources"][logical_id(template_json, f"Monitoring/{path}")]["Properties"])


@pytest.mark.parametrize(
    ("path", "namespace", "metric", "dimension", "statistic"),
    [
        (
            "ExecutionsFailedAlarm",
            "AWS/States",
            "ExecutionsFailed",
            ("StateMachineArn", "Workflow/StateMachine", "Ref"),
            "Sum",
        ),
        (
            "ExecutionsTimedOutAlarm",
            "AWS/States",
            "ExecutionsTimedOut",
            ("StateMachineArn", "Workflow/StateMachine", "Ref"),
            "Sum",
        ),
        ("PollerErrorsAlarm", "AWS/Lambda", "Errors", ("FunctionName", "Poller/Function", "Ref"), "Sum"),
        (
            "DeadLetterQueueAlarm",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            ("QueueName", "Poller/DeadLetterQueue", "QueueName"),
            "Maximum",
        ),
    ],
)
def test_alarm_fires_on_a_single_occurrence(
    template_json: dict[str, Any],
    path: str,
    namespace: str,
    metric: str,
    dimension: tuple[str, str, str],
    statistic: str,
) -> None:
    alarm = _alarm(template_json, path)
    name, target_path, attribute = dimension
    target = logical_id(template_json, target_path)
    value = {"Ref": target} if attribute == "Ref" else get_att(target, attribute)
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (namespace, metric, statistic)
    assert alarm["Dimensions"] == [{"Name": name, "Value": value}]
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["Period"]) == (1, 1, 300)
    assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    ("path", "metric", "periods"),
    [
        # The poller catches per-job errors, so the function's Errors metric cannot see them.
        ("PollerJobErrorsAlarm", "JobErrors", 3),
        # Due jobs a run had no time for: the backlog outgrows the poller.
        ("DeferredJobsAlarm", "JobsDeferred", 2),
        # An execution ended without its callback (timed out) while the job still ran.
        ("ExpiredRecordsAlarm", "JobsExpired", 1),
    ],
)
def test_poller_metrics_raise_alarms(template_json: dict[str, Any], path: str, metric: str, periods: int) -> None:
    alarm = _alarm(template_json, path)
    poller = logical_id(template_json, "Poller/Function")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("CallbackPattern/Poller", metric, "Sum")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": poller}}]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["Period"]) == (1, periods, 300)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_the_alarm_metric_names_are_ones_the_poller_writes() -> None:
    from poller.metrics import METRICS

    assert {"JobErrors", "JobsDeferred", "JobsExpired"} <= set(METRICS.values())


def test_every_alarm_notifies_the_alarm_topic(template_json: dict[str, Any]) -> None:
    topic = logical_id(template_json, "Monitoring/AlarmTopic")
    for alarm in resources(template_json, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]


def test_no_e_mail_subscription_unless_the_stage_names_an_address(template_json: dict[str, Any]) -> None:
    assert resources(template_json, "AWS::SNS::Subscription") == {}


def test_the_alarm_namespace_matches_what_the_poller_writes() -> None:
    from poller.metrics import NAMESPACE
    from stacks.monitoring import POLLER_NAMESPACE

    assert POLLER_NAMESPACE == NAMESPACE


def test_exactly_eight_alarms(template_json: dict[str, Any]) -> None:
    assert len(resources(template_json, "AWS::CloudWatch::Alarm")) == 8


def test_oldest_waiting_job_alarm_fires_before_its_execution_times_out(template_json: dict[str, Any]) -> None:
    # The SQS "age of the oldest message" signal: a job close to its task timeout.
    alarm = _alarm(template_json, "OldestJobAgeAlarm")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "CallbackPattern/Poller",
        "OldestJobAgeSeconds",
        "Maximum",
    )
    assert alarm["Threshold"] == 0.8 * 1800  # 80% of the local stage's task timeout
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def _dashboard_body(template_json: dict[str, Any]) -> dict[str, Any]:
    import json

    [dashboard] = resources(template_json, "AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    # Tokens (function names, ARNs) are spliced into the JSON text: stand in a placeholder.
    return dict(json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts)))


def test_dashboard_shows_waiting_jobs_their_age_callbacks_runs_and_outcomes(template_json: dict[str, Any]) -> None:
    widgets = _dashboard_body(template_json)["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    assert titles == [
        "Waiting jobs",
        "Age of the oldest waiting job (s)",
        "Callbacks sent",
        "Poller runs",
        "Execution outcomes",
        "Alarms",
    ]
    metric_names = {
        part
        for widget in widgets
        for metric in widget["properties"].get("metrics", [])
        for part in metric
        if isinstance(part, str)
    }
    assert {"DueJobs", "OldestJobAgeSeconds", "JobsSucceeded", "Heartbeats", "JobsDeferred", "Duration"} <= metric_names
    assert {"ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"} <= metric_names
    alarms = next(w for w in widgets if w["properties"]["title"] == "Alarms")["properties"]["alarms"]
    assert len(alarms) == len(resources(template_json, "AWS::CloudWatch::Alarm"))


def test_dashboard_metrics_are_ones_the_poller_writes(template_json: dict[str, Any]) -> None:
    from poller.metrics import GAUGES, METRICS

    widgets = _dashboard_body(template_json)["widgets"]
    poller_metrics = {
        metric[1]
        for widget in widgets
        for metric in widget["properties"].get("metrics", [])
        if metric and metric[0] == "CallbackPattern/Poller"
    }
    assert poller_metrics <= set(METRICS.values()) | set(GAUGES.values())
