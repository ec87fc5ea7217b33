"""poller: run by EventBridge Scheduler; heartbeats, resumes or fails each waiting execution.

Its schedules invoke it with `{"shard": "n"}` (one schedule per shard); `{}` works every shard in
turn, `{"jobId": "..."}` only that job (by hand).
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from botocore.config import Config

from common.config import env_int, env_poll_schedule, env_str
from common.job_api import JobApiClient
from common.log import get_logger, inject_lambda_context
from poller.metrics import add_run_metrics, log_metrics, metrics
from poller.ratelimit import RateLimiter
from poller.service import Poller, UnknownJob, new_counts
from poller.store import JobTables

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
        schedule = env_poll_schedule()
        _poller = Poller(
            tables=JobTables(
                client=boto3.client("dynamodb", config=config),
                tokens_table=env_str("TASK_TOKENS_TABLE_NAME"),
                poll_table=env_str("POLL_STATE_TABLE_NAME"),
                due_index=env_str("DUE_INDEX_NAME"),
            ),
            api=JobApiClient(
                lambda_client=boto3.client("lambda", config=config),
                function_name=env_str("SIMULATED_API_FUNCTION_NAME"),
            ),
            sfn=boto3.client("stepfunctions", config=config),
            concurrency=concurrency,
            schedule=schedule,
            sending_lease_seconds=env_int("CLAIM_SECONDS", minimum=1),
            # Each shard's run gets its share of the stage's rates: all shards together stay under them.
            send_limiter=RateLimiter(rate_per_second=env_int("SEND_TASK_RATE_PER_SECOND", minimum=1) / schedule.shards),
            api_limiter=RateLimiter(rate_per_second=env_int("JOB_API_RATE_PER_SECOND", minimum=1) / schedule.shards),
        )
    return _poller


class InvalidPollRequest(ValueError):
    """The poller was invoked with an event it does not understand."""


USAGE = 'the poller takes {} (every shard), {"shard": "n"} (one shard) or {"jobId": "..."} (one job)'


@log_metrics  # writes the run's metrics out when it ends, also when it raised
@inject_lambda_context(logger, correlation={"jobId": "jobId"})
def lambda_handler(event: Any, context: Any, poller: Poller | None = None) -> dict[str, Any]:
    counts = new_counts()
    try:
        job_id, shard = _parse(event)
        return (poller or _default_poller()).run(job_id, shard=shard, deadline=_deadline(context), counts=counts)
    finally:
        # Also when the run raised (or its event was refused): what it did until then is counted.
        add_run_metrics(metrics, counts, function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "poller"))


def _parse(event: Any) -> tuple[str | None, str | None]:
    if event is None:
        return None, None
    if not isinstance(event, dict):
        raise InvalidPollRequest(f"{USAGE}; got {type(event).__name__}")
    unknown = sorted(set(event) - {"jobId", "shard"})
    if unknown:
        raise InvalidPollRequest(f"unknown field(s) {', '.join(unknown)}: {USAGE}")
    if len(event) > 1:
        raise InvalidPollRequest(f"jobId and shard cannot be combined: {USAGE}")
    job_id, shard = event.get("jobId"), event.get("shard")
    if job_id is not None and (not isinstance(job_id, str) or not job_id):
        raise InvalidPollRequest(f"jobId must be a non-empty string, got {job_id!r}")
    if shard is not None and (not isinstance(shard, str) or not shard.isdigit()):
        raise InvalidPollRequest(f'shard must be a shard number as a string (e.g. "0"), got {shard!r}')
    return job_id, shard


def _deadline(context: Any) -> float | None:
    """When to stop claiming jobs: a safety margin before the function's own timeout."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", lambda: None)()
    if remaining_ms is None:
        return None
    remaining = float(remaining_ms) / 1000
    return time.monotonic() + remaining - min(SAFETY_MARGIN_SECONDS, remaining / 2)
