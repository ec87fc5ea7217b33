"""The task-token record: one item per job in the task-token table, shared by create_job, the poller
and the command-line tool. Its states and transitions are in docs/design.md ("The record").

    POLLING --claim--> POLLING (claimed) --heartbeat/release--> POLLING
                                         --decision--> SENDING --send ok--> COMPLETED | FAILED | MAX_ATTEMPTS
    SENDING --claim (crash, lost reply, failed write)--> resend the stored decision
    any pending --token refused + DescribeExecution--> the execution's real end
                                                       (COMPLETED | FAILED | MAX_ATTEMPTS | EXPIRED | CANCELLED)

A record is *pending* (POLLING or SENDING) while it carries `dueShard`/`dueAt`: those two make
the sparse `ByDue` index, so the poller reads only jobs that are due, oldest due time first
(the job whose heartbeat is most urgent), and never a finished one. A claim moves `dueAt` past
the claim's end: the claim is the lease, and a crashed poller's jobs come due again by themselves.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypedDict

from common.clock import iso

TABLE_KEY: Final = "jobId"
DUE_INDEX: Final = "ByDue"
DUE_SHARD: Final = "dueShard"  # partition key of the ByDue index (present only while pending)
DUE_AT: Final = "dueAt"  # sort key of the ByDue index: when the job is next due, epoch milliseconds
TTL_ATTRIBUTE: Final = "expiresAt"

Status = Literal["POLLING", "SENDING", "COMPLETED", "FAILED", "MAX_ATTEMPTS", "EXPIRED", "CANCELLED"]
POLLING: Final = "POLLING"  # waiting for the job; polled, heartbeated
SENDING: Final = "SENDING"  # a final decision is stored; it is being sent (or will be resent)
COMPLETED: Final = "COMPLETED"  # SendTaskSuccess delivered
FAILED: Final = "FAILED"  # SendTaskFailure (JobFailed, ResultTooLarge) delivered
MAX_ATTEMPTS: Final = "MAX_ATTEMPTS"  # SendTaskFailure (MaxAttemptsExceeded) delivered
EXPIRED: Final = "EXPIRED"  # the execution timed out or failed before a callback; job cancelled
CANCELLED: Final = "CANCELLED"  # the execution was stopped; job cancelled
PENDING_STATUSES: Final = frozenset({POLLING, SENDING})
FINAL_STATUSES: Final = frozenset({COMPLETED, FAILED, MAX_ATTEMPTS, EXPIRED, CANCELLED})
STATUSES: Final = (POLLING, SENDING, COMPLETED, FAILED, MAX_ATTEMPTS, EXPIRED, CANCELLED)


class StoredDecision(TypedDict, total=False):
    """What the poller decided to send; stored before the send so a resend sends the same."""

    action: Literal["SUCCEED", "FAIL"]
    finalStatus: str
    output: str  # SendTaskSuccess output (JSON text)
    error: str  # SendTaskFailure error
    cause: str  # SendTaskFailure cause


class TokenRecord(TypedDict, total=False):
    jobId: str
    taskToken: str
    executionArn: str
    idempotencyKey: str  # what create_job gave the API: execution ARN + redrive count, hashed
    status: str
    attemptCount: int  # status checks the API answered
    maxAttempts: int
    inputBytes: int  # size of the execution input, for the poller's state-size check
    jobName: str
    createdAt: str
    updatedAt: str
    expiresAt: int
    dueShard: str
    dueAt: int
    claimOwner: str
    decision: StoredDecision
    finalDetail: str


INT_FIELDS: Final = ("attemptCount", "maxAttempts", "inputBytes", "expiresAt", "dueAt")


def new_record(
    *,
    job_id: str,
    task_token: str,
    execution_arn: str,
    idempotency_key: str,
    max_attempts: int,
    input_bytes: int,
    job_name: str | None,
    now: datetime,
    ttl_days: int,
    shard: str = "0",
) -> TokenRecord:
    """The record create_job writes for a job it started: pending and due at once."""
    record = TokenRecord(
        jobId=job_id,
        taskToken=task_token,
        executionArn=execution_arn,
        idempotencyKey=idempotency_key,
        status=POLLING,
        attemptCount=0,
        maxAttempts=max_attempts,
        inputBytes=input_bytes,
        createdAt=iso(now),
        updatedAt=iso(now),
        expiresAt=int((now + timedelta(days=ttl_days)).timestamp()),
        dueShard=shard,
        dueAt=epoch_ms(now),
    )
    if job_name:
        record["jobName"] = job_name
    return record


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def normalise(plain: dict[str, Any]) -> TokenRecord:
    """A record read from DynamoDB (numbers as Decimal) with its integer fields as int."""
    for key in INT_FIELDS:
        if key in plain:
            plain[key] = int(plain[key])
    return plain  # type: ignore[return-value]
