"""Lambda's CloudWatch metrics on the local cloud (localcloud_ext/lambda_metrics.py): counted per
invocation as on AWS, published in batches (LocalStack's one-commit-per-invocation stalled the
gateway under a burst). On the shared instance."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import localcloud
from localcloud.core import counters
from tests.localcloud.helpers import Clients, create_function, request_count, wait_for

HANDLER = """
def lambda_handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
"""


@pytest.fixture(scope="module")
def function(shared_client: Clients) -> str:
    create_function(shared_client, "metrics-probe", HANDLER, Timeout=10)
    return "metrics-probe"


def _statistics(client: Clients, metric: str) -> dict[str, float]:
    now = dt.datetime.now(dt.UTC)
    points = client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=metric,
        Dimensions=[{"Name": "FunctionName", "Value": "metrics-probe"}],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
        Period=3600,
        Statistics=["Sum", "SampleCount"],
    )["Datapoints"]
    return {"Sum": sum(p["Sum"] for p in points), "SampleCount": sum(p["SampleCount"] for p in points)}


def test_every_invocation_and_error_is_counted_as_on_aws(
    shared_client: Clients, shared_cloud: localcloud.Instance, function: str
) -> None:
    """30 invocations at once, 10 of them failing: Invocations 30 and Errors 10, each as 30 and 10
    data points of 1 (Sum and SampleCount), within a few seconds, in a few PutMetricData calls
    (one a second) where LocalStack makes one per data point (40)."""
    events: list[dict[str, Any]] = [{"fail": n < 10} for n in range(30)]
    counters(shared_cloud.endpoint, reset=True)

    def invoke(event: dict[str, Any]) -> None:
        shared_client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(invoke, events))

    invocations = wait_for(
        lambda: (s := _statistics(shared_client, "Invocations"))["SampleCount"] >= 30 and s,
        15,
        "30 Invocations data points",
    )
    assert invocations == {"Sum": 30.0, "SampleCount": 30.0}
    assert _statistics(shared_client, "Errors") == {"Sum": 10.0, "SampleCount": 10.0}
    puts = request_count(counters(shared_cloud.endpoint), "cloudwatch", "PutMetricData")
    assert 1 <= puts <= 15
