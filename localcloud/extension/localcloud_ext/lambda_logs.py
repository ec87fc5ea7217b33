"""Lambda functions' log lines delivered to CloudWatch Logs in batches.

LocalStack's ``LogHandler`` (one per function version, its own thread) sends each invocation's log
lines with a ``PutLogEvents`` of its own, through the gateway: 3.6 requests per execution of this
stack (create_job, the job API twice, a share of the poller's runs), 13% of all requests during
1,000 executions at once, and ``LogHandler.run_log_loop`` 11% of the one process's time (py-spy,
2026-12-02). AWS delivers function logs asynchronously too. Here the loop waits ``GATHER_SECONDS``
after the first invocation's lines, takes every invocation queued by then, and sends each log
stream's lines in one ``PutLogEvents`` (cut to the API's limits), creating the group and stream
when they are missing as LocalStack does. Lines, their order and their streams are unchanged; they
arrive up to ``GATHER_SECONDS`` later.

Standard library and LocalStack only: applied at the runtime's start (plugins.py).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from typing import Any

from localcloud_ext.execution_logs import batches

LOG = logging.getLogger("localcloud.lambda_logs")

GATHER_SECONDS = 0.25
MAX_ITEMS = 1_000  # invocations taken in one round
_ORIGINAL: dict[str, Any] = {}


def gather(first: Any, more: queue.Queue[Any], limit: int = MAX_ITEMS) -> tuple[list[Any], bool]:
    """``first`` and the items queued behind it (up to ``limit``), and whether the shutdown pill
    (any item without ``logs``) was among them: the items before it are still sent."""
    items = [first]
    while len(items) < limit:
        try:
            items.append(more.get_nowait())
        except queue.Empty:
            break
    for index, item in enumerate(items):
        if not hasattr(item, "logs"):
            return items[:index], True
    return items, False


def by_stream(items: list[Any], now_ms: int) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each (log group, log stream)'s events, in the order the invocations were queued. As
    LocalStack: one line per event (newline kept, empty lines dropped), one timestamp per round."""
    streams: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in items:
        events = streams.setdefault((item.log_group, item.log_stream), [])
        events.extend({"timestamp": now_ms, "message": line + "\n"} for line in item.logs.split("\n") if line)
    return streams


def _send(logs_client: Any, group: str, stream: str, events: list[dict[str, Any]]) -> None:
    for batch in batches(events):
        try:
            logs_client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
        except logs_client.exceptions.ResourceNotFoundException:
            with contextlib.suppress(logs_client.exceptions.ResourceAlreadyExistsException):
                logs_client.create_log_group(logGroupName=group)
            with contextlib.suppress(logs_client.exceptions.ResourceAlreadyExistsException):
                logs_client.create_log_stream(logGroupName=group, logStreamName=stream)
            logs_client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)


def run_log_loop(self: Any, *args: Any, **kwargs: Any) -> None:
    """``LogHandler.run_log_loop`` sending in rounds (module docstring)."""
    from localstack.aws.connect import connect_to
    from localstack.utils.aws.client_types import ServicePrincipal

    logs_client = connect_to.with_assumed_role(
        region_name=self.region, role_arn=self.role_arn, service_principal=ServicePrincipal.lambda_
    ).logs
    stopping = False
    while not stopping and not self._shutdown_event.is_set():
        first = self.log_queue.get()
        if hasattr(first, "logs"):
            time.sleep(GATHER_SECONDS)
        items, stopping = gather(first, self.log_queue)
        for (group, stream), events in by_stream(items, int(time.time() * 1000)).items():
            if not events:
                continue
            try:
                _send(logs_client, group, stream, events)
            except Exception as error:  # as LocalStack: a lost batch of log lines is not fatal
                LOG.warning("Error saving logs to group %s in region %s: %s", group, self.region, error)


def apply() -> None:
    """Patch LocalStack's ``LogHandler`` (idempotent)."""
    from localstack.services.lambda_.invocation.logs import LogHandler

    if "run_log_loop" in _ORIGINAL:
        return
    _ORIGINAL["run_log_loop"] = LogHandler.run_log_loop
    LogHandler.run_log_loop = run_log_loop
