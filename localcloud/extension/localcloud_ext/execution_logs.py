"""Step Functions' execution logs (a state machine's ``LoggingConfiguration``) delivered in batches.

LocalStack's interpreter sends every history event of a logged execution with a ``PutLogEvents``
of its own, from the execution's thread, through the gateway: about ten requests per execution
(the stack logs at level ALL). One full ``make bench`` made 32,641 of them, more than any other
operation and five times its Lambda invocations, all on the one process everything else waits for.
AWS delivers these logs asynchronously too (vended logs arrive seconds later). Here an event is
queued for its log stream, and one thread sends what each stream gathered every ``FLUSH_SECONDS``,
in as few ``PutLogEvents`` as the API's limits allow, creating the stream when it is missing as
LocalStack does. The events, their order and their timestamps are unchanged; they arrive up to
``FLUSH_SECONDS`` later.

Standard library and LocalStack only: applied when Step Functions loads (stepfunctions.py).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from localcloud_ext.periodic import PeriodicThread

LOG = logging.getLogger("localcloud.execution_logs")

FLUSH_SECONDS = 0.5
MAX_EVENTS = 10_000  # PutLogEvents: at most 10,000 events
MAX_BYTES = 1_000_000  # and 1,048,576 bytes (each message's UTF-8 size plus 26), with room to spare
EVENT_OVERHEAD = 26


def batches(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The events in order, cut into PutLogEvents-sized batches."""
    out: list[list[dict[str, Any]]] = []
    size = 0
    for event in events:
        event_size = len(str(event["message"]).encode()) + EVENT_OVERHEAD
        if not out or len(out[-1]) >= MAX_EVENTS or size + event_size > MAX_BYTES:
            out.append([])
            size = 0
        out[-1].append(event)
        size += event_size
    return out


class LogBatcher:
    def __init__(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        # (log group, log stream) -> (the session that logs there, its events not yet sent)
        self._pending: dict[tuple[str, str], tuple[Any, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._thread = PeriodicThread(
            self.flush,
            seconds=flush_seconds,
            name="localcloud-execution-logs",
            log=LOG,
            failure="sending execution log events failed",
            final=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Send what is left and end the thread (nothing to do if it never started)."""
        self._thread.stop()

    def add(self, session: Any, log_events: list[dict[str, Any]]) -> None:
        """Drop-in for ``CloudWatchLoggingSession._publish_history_log_or_setup``."""
        config = session.configuration
        key = (str(config.log_group_name), str(config.log_stream_name))
        with self._lock:
            pending = self._pending.setdefault(key, (session, []))
            pending[1].extend(log_events)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for session, events in pending.values():
            events.sort(key=lambda event: event["timestamp"])  # a batch must be in time order (stable)
            for batch in batches(events):
                try:
                    # LocalStack's own put, then stream set-up and a second put when the stream is missing.
                    if not session._put_events(log_events=batch) and session._setup():
                        session._put_events(log_events=batch)
                except Exception:  # as LocalStack does: a lost log line must not break executions
                    LOG.exception("execution log events could not be published")


BATCHER = LogBatcher()
_ORIGINAL: dict[str, Any] = {}


def apply() -> None:
    """Queue LocalStack's per-event execution logs for the batcher (idempotent)."""
    from localstack.services.stepfunctions.asl.eval.event.logging import CloudWatchLoggingSession

    if _ORIGINAL:
        return
    _ORIGINAL["publish"] = CloudWatchLoggingSession._publish_history_log_or_setup

    def publish(session: Any, log_events: list[dict[str, Any]]) -> None:
        BATCHER.add(session, log_events)

    CloudWatchLoggingSession._publish_history_log_or_setup = publish
    BATCHER.start()
