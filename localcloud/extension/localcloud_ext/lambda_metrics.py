"""Lambda's CloudWatch metrics (``AWS/Lambda``: Invocations, Errors, ...) published in batches.

LocalStack publishes one ``PutMetricData`` per metric per invocation, from a thread of its own,
and its CloudWatch stores each in SQLite with a commit of its own under one global lock. A burst of
invocations (Step Functions retrying throttled tasks: hundreds a second) queued 1,600 threads on
that lock; the convoy they formed for the GIL stalled every other request (a ``ListTables`` took
20 s, create_job timed out). Here each data point is counted in memory and a single thread
publishes the counts once a second: one ``PutMetricData`` per account and region, one datum per
(metric, function, value) with ``Values``/``Counts`` (the same Sum and SampleCount as one datum per
invocation; timestamps are at most a second late).

Standard library and LocalStack only: applied by the ``on_infra_start`` hook (plugins.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from typing import Any

from localcloud_ext.periodic import PeriodicThread

LOG = logging.getLogger("localcloud.lambda_metrics")

FLUSH_SECONDS = 1.0
MAX_DATA_PER_REQUEST = 1000  # PutMetricData's limit on MetricData entries

# (account, region, metric, function name, value) -> data points not yet published
Key = tuple[str | None, str | None, str, str, float]


class MetricBatcher:
    def __init__(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._pending: Counter[Key] = Counter()
        self._lock = threading.Lock()
        self._thread = PeriodicThread(
            self.flush,
            seconds=flush_seconds,
            name="localcloud-lambda-metrics",
            log=LOG,
            failure="publishing Lambda metrics failed",
            final=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Publish what is left and end the thread (nothing to do if it never started)."""
        self._thread.stop()

    def publish_lambda_metric(
        self, metric: str, value: float, kwargs: Any, account_id: str | None = None, region_name: str | None = None
    ) -> None:
        """Drop-in for ``localstack.utils.cloudwatch.cloudwatch_util.publish_lambda_metric``."""
        from localstack.utils.cloudwatch.cloudwatch_util import dimension_lambda

        [dimension] = dimension_lambda(kwargs)
        with self._lock:
            self._pending[(account_id, region_name, metric, str(dimension["Value"]), float(value))] += 1

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Counter()
        by_target: dict[tuple[str | None, str | None], list[dict[str, Any]]] = {}
        now = dt.datetime.now(dt.UTC)
        for (account_id, region_name, metric, function, value), count in sorted(pending.items(), key=str):
            by_target.setdefault((account_id, region_name), []).append(
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "FunctionName", "Value": function}],
                    "Timestamp": now,
                    "Values": [value],
                    "Counts": [float(count)],
                }
            )
        for (account_id, region_name), data in by_target.items():
            self._put(account_id, region_name, data)

    @staticmethod
    def _put(account_id: str | None, region_name: str | None, data: list[dict[str, Any]]) -> None:
        from localstack.aws.connect import connect_to
        from localstack.utils.bootstrap import is_api_enabled

        if not is_api_enabled("cloudwatch"):
            return
        cloudwatch = connect_to(aws_access_key_id=account_id, region_name=region_name).cloudwatch
        for start in range(0, len(data), MAX_DATA_PER_REQUEST):
            try:
                cloudwatch.put_metric_data(
                    Namespace="AWS/Lambda", MetricData=data[start : start + MAX_DATA_PER_REQUEST]
                )
            except Exception as exc:  # as LocalStack does: a lost metric must not break invocations
                LOG.info("Unable to put Lambda metric data to CloudWatch: %s", exc)


BATCHER = MetricBatcher()


def apply() -> None:
    """Route LocalStack's per-invocation Lambda metrics through the batcher (idempotent)."""
    from localstack.services.lambda_.invocation import metrics

    if metrics.publish_lambda_metric != BATCHER.publish_lambda_metric:
        metrics.publish_lambda_metric = BATCHER.publish_lambda_metric
        BATCHER.start()
