"""The poller's per-run counts as CloudWatch metrics, in the Embedded Metric Format (EMF).

A line printed to stdout in this shape becomes metrics in CloudWatch without any API call. It makes
per-job errors visible: the poller catches them (one bad job never stops the batch), so the
function's own Errors metric stays at zero while jobs keep failing to be processed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

NAMESPACE = "CallbackPattern/Poller"
# Summary key -> metric name.
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


def emf_line(summary: Mapping[str, int], *, function_name: str, timestamp_ms: int) -> str:
    record: dict[str, object] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in METRICS.values()],
                }
            ],
        },
        "FunctionName": function_name,
    }
    record.update({name: int(summary.get(key, 0)) for key, name in METRICS.items()})
    return json.dumps(record)
