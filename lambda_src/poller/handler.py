"""poller: run by EventBridge Scheduler; heartbeats, resumes or fails each waiting execution.

Invoked with `{}` it works every due job; with `{"jobId": "..."}` only that job (by hand).
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from botocore.config import Config

from common.config import env_float, env_int, env_str
from common.job_api import JobApiClient
from common.log import get_logger, inject_lambda_context
from poller.metrics import add_run_metrics, log_metrics, metrics
from poller.service import Poller, UnknownJob, new_counts
from poller.store import TokenStore

__all__ = ["InvalidPollRequest", "Poller", "UnknownJob", "lambda_handler"]

# Time kept free at the end of a run for the sends and writes of jobs already claimed.
SAFETY_MARGIN_SECONDS = 15
# A hung AWS call gives up inside the safety margin: 2 x (connect + read) and a retry's backoff.
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 4
TOTAL_MAX_ATTEMPTS = 2

_poller: Poller | None = None
logger = get_logger("poller")


def client_config(concurrency: int) -> Config:
    # One HTTP connection per worker thread, so the status checks really run concurrently.
    return Config(
        max_pool_connections=concurrency + 4,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS},
    )


def _default_poller() -> Poller:
    global _poller
    if _poller is None:
        concurrency = env_int("POLLER_CONCURRENCY", minimum=1)
        config = client_config(concurrency)
        _poller = Poller(
            store=TokenStore(
                client=boto3.client("dynamodb", config=config),
                table_name=env_str("TASK_TOKENS_TABLE_NAME"),
                due_index=env_str("DUE_INDEX_NAME"),
            ),
            api=JobApiClient(
                lambda_client=boto3.client("lambda", config=config),
                function_name=env_str("SIMULATED_API_FUNCTION_NAME"),
            ),
            sfn=boto3.client("stepfunctions", config=config),
            concurrency=concurrency,
            claim_seconds=env_int("CLAIM_SECONDS", minimum=1),
            poll_interval_seconds=env_float("POLL_INTERVAL_SECONDS"),
        )
    return _poller


class InvalidPollRequest(ValueError):
    """The poller was invoked with an event it does not understand."""


USAGE = 'the poller takes {} (every due job) or {"jobId": "..."} (one job)'


@log_metrics  # writes the run's metrics out when it ends, also when it raised
@inject_lambda_context(logger, correlation={"jobId": "jobId"})
def lambda_handler(event: Any, context: Any, poller: Poller | None = None) -> dict[str, Any]:
    counts = new_counts()
    try:
        return (poller or _default_poller()).run(_parse(event), deadline=_deadline(context), counts=counts)
    finally:
        # Also when the run raised (or its event was refused): what it did until then is counted.
        add_run_metrics(metrics, counts, function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "poller"))


def _parse(event: Any) -> str | None:
    if event is None:
        return None
    if not isinstance(event, dict):
        raise InvalidPollRequest(f"{USAGE}; got {type(event).__name__}")
    unknown = sorted(set(event) - {"jobId"})
    if unknown:
        raise InvalidPollRequest(f"unknown field(s) {', '.join(unknown)}: {USAGE}")
    job_id = event.get("jobId")
    if job_id is not None and (not isinstance(job_id, str) or not job_id):
        raise InvalidPollRequest(f"jobId must be a non-empty string, got {job_id!r}")
    return job_id


def _deadline(context: Any) -> float | None:
    """When to stop claiming jobs: a safety margin before the function's own timeout."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", lambda: None)()
    if remaining_ms is None:
        return None
    remaining = remaining_ms / 1000
    return time.monotonic() + remaining - min(SAFETY_MARGIN_SECONDS, remaining / 2)
