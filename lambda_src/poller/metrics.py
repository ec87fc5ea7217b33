"""The poller's per-run counts as CloudWatch metrics, through Powertools Metrics (Embedded Metric Format).

A run's counts are printed to stdout as one EMF document, which CloudWatch turns into metrics
without any API call. It makes per-job errors visible: the poller catches them (one bad job never
stops the batch), so the function's own Errors metric stays at zero while jobs keep failing.

The metrics have one dimension, `FunctionName` (what stacks/monitoring.py's alarms and dashboard
select on), and no `service` dimension: Powertools adds one when it knows a service name, which
would put the metrics out of the alarms' sight, so `metrics` is created with an empty service.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

NAMESPACE = "CallbackPattern/Poller"
DIMENSION = "FunctionName"
# Summary key -> metric name: counts of one run.
METRICS = {
    "succeeded": "JobsSucceeded",
    "failed": "JobsFailed",
    "heartbeats": "Heartbeats",
    "expired": "JobsExpired",
    "cancelled": "JobsCancelled",
    "reconciled": "JobsReconciled",
    "deferred": "JobsDeferred",
    "errors": "JobErrors",
    "polled": "JobsPolled",  # still running, no heartbeat owed: the claim was the poll's only write
    "throttled": "Throttled",  # a service said slow down; the job comes due again
    "busyShards": "BusyShards",  # shards another run was working
}
# Summary key -> metric name: what one run saw of the backlog.
GAUGES = {
    "dueJobs": "DueJobs",  # jobs due in this run (worked or deferred)
    "oldestJobAgeSeconds": "OldestJobAgeSeconds",  # the longest a job this run worked has waited
    "dueLagSeconds": "DueLagSeconds",  # how late the most overdue job was when the run started
}
_GAUGE_UNITS = {
    "dueJobs": MetricUnit.Count,
    "oldestJobAgeSeconds": MetricUnit.Seconds,
    "dueLagSeconds": MetricUnit.Seconds,
}

# The function's metrics: `log_metrics` on the handler writes them out after every run.
metrics = Metrics(namespace=NAMESPACE, service="")


def log_metrics[Handler: Callable[..., Any]](handler: Handler) -> Handler:
    """Powertools' `metrics.log_metrics` (flush when the handler ends, also when it raises), and stdout
    flushed after it: the process may be frozen or ended as soon as the handler returns, and stdout
    may be a block-buffered pipe."""
    flushing = metrics.log_metrics(handler)

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return flushing(*args, **kwargs)
        finally:
            sys.stdout.flush()

    return run  # type: ignore[return-value]


def add_run_metrics(target: Metrics, summary: Mapping[str, float], *, function_name: str) -> None:
    """One run's counts (integers) and gauges (to the millisecond), under dimension FunctionName."""
    target.add_dimension(name=DIMENSION, value=function_name)
    for key, name in METRICS.items():
        target.add_metric(name=name, unit=MetricUnit.Count, value=int(summary.get(key, 0)))
    for key, name in GAUGES.items():
        target.add_metric(name=name, unit=_GAUGE_UNITS[key], value=round(float(summary.get(key, 0)), 3))
