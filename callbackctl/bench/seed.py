"""Records put straight into the tables, in the shapes create_job writes (lambda_src/common/records.py):
a token record (task-token table), a poll state (poll-state table, in the ``ByDue`` index) and the
simulated API's job. Pure: builds low-level DynamoDB items, writes nothing.

Seeded jobs carry a fake task token, so they stand for the *pending backlog* only: they are seeded
not due (``dueAt`` far ahead), so no run claims them and no send ever uses their token. The jobs a
phase times are real waiting executions (``callbackctl.bench.realpath``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callbackctl.deployment.cdk import LOCAL_ACCOUNT
from callbackctl.deployment.tables import low_level
from common import records
from common.records import DUE_AT, DUE_SHARD, HEARTBEAT_AT, Attr, epoch_ms
from common.schedule import shard_of

Item = dict[str, Any]
NOT_DUE_MS = 30 * 24 * 3600 * 1000  # a month ahead: never due while the bench runs
# What a seeded job asked for: create_job's default attempts, the input `{}`, kept for a day.
MAX_ATTEMPTS = 10
INPUT_BYTES = 2
TTL_DAYS = 1


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Seed:
    """Items for the three tables, one of each per job."""

    tokens: list[Item] = field(default_factory=list)
    states: list[Item] = field(default_factory=list)
    jobs: list[Item] = field(default_factory=list)


def token_record(job_id: str, token: str, now: datetime) -> Item:
    return low_level(
        records.new_record(
            job_id=job_id,
            task_token=token,
            execution_arn=f"arn:aws:states:us-east-1:{LOCAL_ACCOUNT}:execution:bench:{job_id}",
            idempotency_key=uuid.uuid4().hex * 2,
            max_attempts=MAX_ATTEMPTS,
            input_bytes=INPUT_BYTES,
            job_name=None,
            now=now,
            ttl_days=TTL_DAYS,
        )
    )


def poll_state(job_id: str, now: datetime, *, shard: str, due_ms: int, interval_ms: int) -> Item:
    """The poll state create_job writes, due at ``due_ms``, its heartbeat clock started ``now``."""
    return low_level(
        records.new_poll_state(
            job_id=job_id,
            shard=shard,
            first_wait_ms=due_ms - epoch_ms(now),
            interval_ms=interval_ms,
            max_attempts=MAX_ATTEMPTS,
            input_bytes=INPUT_BYTES,
            now=now,
            ttl_days=TTL_DAYS,
        )
    )


def job_item(job_id: str, now: datetime, *, completion_polls: int = 100) -> Item:
    stamp = _stamp(now)
    return {
        "jobId": {"S": job_id},
        "status": {"S": "IN_PROGRESS"},
        "outcome": {"S": "SUCCEED"},
        "pollCount": {"N": "0"},
        "completionPolls": {"N": str(completion_polls)},
        "payload": {"M": {}},
        "createdAt": {"S": stamp},
        "updatedAt": {"S": stamp},
    }


def backlog(count: int, now: datetime, *, shards: int = 1, interval_ms: int = 2_000) -> Seed:
    """``count`` pending jobs that are not due (a month ahead), spread over ``shards`` as create_job
    spreads them; their heartbeat clock started now."""
    seed = Seed()
    due = epoch_ms(now) + NOT_DUE_MS
    for _ in range(count):
        job_id = f"bench-{uuid.uuid4()}"
        seed.tokens.append(token_record(job_id, f"bench-fake-token-{uuid.uuid4()}", now))
        seed.states.append(
            poll_state(
                job_id,
                now,
                shard=shard_of(job_id, shards),
                due_ms=due,
                interval_ms=interval_ms,
            )
        )
        seed.jobs.append(job_item(job_id, now))
    return seed


def made_due(state: Item, *, now_ms: int, shard: str | None = None) -> Item:
    """A poll state (as read) due now, its heartbeat owed (last one at 0), its attempts and claim
    cleared: the next run claims it, checks it and sends a real heartbeat."""
    out = {k: v for k, v in state.items() if k not in (Attr.CLAIM_OWNER, Attr.SENDING)}
    out.update({DUE_AT: {"N": str(now_ms)}, HEARTBEAT_AT: {"N": "0"}, Attr.ATTEMPT_COUNT: {"N": "0"}})
    if shard is not None:
        out[DUE_SHARD] = {"S": shard}
    return out


def finishing(job: Item) -> Item:
    """A simulated job (as read) that ends at its next status check."""
    polls = int(job.get("pollCount", {"N": "0"})["N"])
    return {**job, "completionPolls": {"N": str(polls + 1)}}
