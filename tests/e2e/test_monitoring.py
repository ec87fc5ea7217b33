"""The deployed stack's CloudWatch picture on the local cloud: the dashboard and the alarm on the
age of the oldest waiting job exist as CloudFormation created them, reading the poller's metrics."""

from __future__ import annotations

import json
from typing import Any

from callbackctl.deployment import StackInfo, Target
from callbackctl.deployment.targets import STACK_NAME


def _resources(target: Target, kind: str) -> dict[str, str]:
    """Logical id -> physical id of the stack's resources of one type."""
    paginator = target.client("cloudformation").get_paginator("list_stack_resources")
    return {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for page in paginator.paginate(StackName=STACK_NAME)
        for r in page["StackResourceSummaries"]
        if r["ResourceType"] == kind
    }


def test_the_deployed_dashboard_shows_the_waiting_jobs_and_their_age(target: Target, stack: StackInfo) -> None:
    [name] = _resources(target, "AWS::CloudWatch::Dashboard").values()
    cloudwatch: Any = target.client("cloudwatch")
    body = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
    metrics = {
        str(entry[1])
        for widget in body["widgets"]
        for entry in widget.get("properties", {}).get("metrics", [])
        if isinstance(entry, list) and len(entry) > 1 and entry[0] == "CallbackPattern/Poller"
    }
    assert {"DueJobs", "OldestJobAgeSeconds", "JobsDeferred"} <= metrics


def test_the_deployed_oldest_waiting_job_alarm_watches_the_pollers_metric(target: Target, stack: StackInfo) -> None:
    alarms = _resources(target, "AWS::CloudWatch::Alarm")
    [name] = [physical for logical, physical in alarms.items() if "OldestJobAgeAlarm" in logical]
    cloudwatch: Any = target.client("cloudwatch")
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "CallbackPattern/Poller",
        "OldestJobAgeSeconds",
        "Maximum",
    )
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["Threshold"] > 0
    assert alarm["AlarmActions"]  # it notifies the alarm topic
