"""The poller's per-run counts as CloudWatch metrics, in the Embedded Metric Format (EMF).

A line printed to stdout in this shape becomes metrics in CloudWatch without any API call. It makes
per-job errors visible: the poller catches them (one bad job never stops the batch), so the
function's own Errors metric stays at zero while jobs keep failing to be processed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

NAMESPACE = "CallbackPattern/Poller"
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
}
# Summary key -> (metric name, unit): what one run saw of the backlog.
GAUGES = {
    "dueJobs": "DueJobs",  # jobs due in this run (worked or deferred)
    "oldestJobAgeSeconds": "OldestJobAgeSeconds",  # the longest a job this run worked has waited
    "dueLagSeconds": "DueLagSeconds",  # how late the most overdue job was when the run started
}
_GAUGE_UNITS = {"dueJobs": "Count", "oldestJobAgeSeconds": "Seconds", "dueLagSeconds": "Seconds"}


def emf_line(summary: Mapping[str, float], *, function_name: str, timestamp_ms: int) -> str:
    metrics = [{"Name": name, "Unit": "Count"} for name in METRICS.values()]
    metrics += [{"Name": name, "Unit": _GAUGE_UNITS[key]} for key, name in GAUGES.items()]
    record: dict[str, object] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [["FunctionName"]], "Metrics": metrics}],
        },
        "FunctionName": function_name,
    }
    record.update({name: int(summary.get(key, 0)) for key, name in METRICS.items()})
    record.update({name: round(float(summary.get(key, 0)), 3) for key, name in GAUGES.items()})
    return json.dumps(record)
