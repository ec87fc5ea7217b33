"""A job's two records, shared by create_job, the poller, the stack and the command-line tool.
Their states and transitions are in docs/design.md ("The records").

The *token record* (task-token table, one item per job) holds the task token and what became of
the job; it is written when the job starts, when a final decision is stored and when it is sent:

    POLLING --decision--> SENDING --send ok--> COMPLETED | FAILED | MAX_ATTEMPTS
    SENDING --found again (crash, lost reply, failed write)--> resend the stored decision
    any pending --token refused + DescribeExecution--> the execution's real end
                                                       (COMPLETED | FAILED | MAX_ATTEMPTS | EXPIRED | CANCELLED)

The *poll state* (poll-state table, one small item per pending job, deleted when the job ends)
holds what changes on every poll: when the job is next due, its current interval, its attempts and
its last heartbeat. `dueShard`/`dueAt` make the `ByDue` index, so the poller reads only jobs that
are due, most overdue first. Claiming a due job is one write of this small item: it counts the
attempt and moves `dueAt` to the next poll, which is also the claim's lease. A running job needs no
second write; the token (up to 2 KB, billed with every write of its item) is never rewritten by a poll.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypedDict

from common.clock import iso

TABLE_KEY: Final = "jobId"  # the key of both tables
DUE_INDEX: Final = "ByDue"  # the poll-state table's index of pending jobs by due time
DUE_SHARD: Final = "dueShard"  # partition key of the ByDue index: the job's shard
DUE_AT: Final = "dueAt"  # sort key of the ByDue index: when the job is next due, epoch milliseconds
HEARTBEAT_AT: Final = "heartbeatAt"  # last heartbeat (epoch ms), projected into ByDue
INTERVAL: Final = "intervalMs"  # current wait between polls (ms), projected into ByDue
TTL_ATTRIBUTE: Final = "expiresAt"
# Shard leases live in the poll-state table too, keyed "shard#<n>"; without dueShard they never
# appear in the ByDue index.
SHARD_LEASE_PREFIX: Final = "shard#"
SHARD_LEASE_UNTIL: Final = "leaseUntil"  # a shard lease's end (epoch ms), with claimOwner its holder

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


class Attr:
    """The other attribute names of the two records, for code that reads or writes raw DynamoDB items
    (expressions, projections, low-level items). With the key, index and TTL attributes above they
    name every field of TokenRecord and PollState, once (tests/handlers/test_records.py checks)."""

    TASK_TOKEN: Final = "taskToken"
    EXECUTION_ARN: Final = "executionArn"
    IDEMPOTENCY_KEY: Final = "idempotencyKey"
    RETRY_COUNT: Final = "retryCount"
    REDRIVE_COUNT: Final = "redriveCount"
    STATUS: Final = "status"  # a DynamoDB reserved word: use a placeholder (#s) in expressions
    MAX_ATTEMPTS: Final = "maxAttempts"
    INPUT_BYTES: Final = "inputBytes"
    JOB_NAME: Final = "jobName"
    CREATED_AT: Final = "createdAt"
    UPDATED_AT: Final = "updatedAt"
    DECISION: Final = "decision"
    FINAL_DETAIL: Final = "finalDetail"
    ATTEMPT_COUNT: Final = "attemptCount"
    CLAIM_OWNER: Final = "claimOwner"
    SENDING: Final = "sending"


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
    retryCount: int  # the task attempt whose token this is ($$.State.RetryCount): a later one wins
    redriveCount: int  # the execution's run this job belongs to ($$.Execution.RedriveCount)
    status: str
    maxAttempts: int
    inputBytes: int  # size of the execution input, for the poller's state-size check
    jobName: str
    createdAt: str
    updatedAt: str
    expiresAt: int
    decision: StoredDecision
    finalDetail: str
    attemptCount: int  # written when the record becomes final: the status checks it took


class PollState(TypedDict, total=False):
    jobId: str
    dueShard: str
    dueAt: int  # next poll (epoch ms); after a claim, also the end of the claim's lease
    intervalMs: int  # the current wait between polls (backed off, before jitter)
    heartbeatAt: int  # the last heartbeat (epoch ms): sent, or about to be sent by the claim holder
    attemptCount: int  # status checks the API answered
    maxAttempts: int
    inputBytes: int
    claimOwner: str  # the poller run that last claimed the job
    sending: bool  # a final decision is being sent: dueAt is the sending lease
    createdAt: str
    expiresAt: int


INT_FIELDS: Final = (
    Attr.ATTEMPT_COUNT,
    Attr.RETRY_COUNT,
    Attr.REDRIVE_COUNT,
    Attr.MAX_ATTEMPTS,
    Attr.INPUT_BYTES,
    TTL_ATTRIBUTE,
    DUE_AT,
    INTERVAL,
    HEARTBEAT_AT,
)


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
    retry_count: int | None = None,
    redrive_count: int | None = None,
) -> TokenRecord:
    """The token record create_job writes for a job it started (its task attempt and execution run
    when the state machine passes them)."""
    record = TokenRecord(
        jobId=job_id,
        taskToken=task_token,
        executionArn=execution_arn,
        idempotencyKey=idempotency_key,
        status=POLLING,
        maxAttempts=max_attempts,
        inputBytes=input_bytes,
        createdAt=iso(now),
        updatedAt=iso(now),
        expiresAt=expires_at(now, ttl_days),
    )
    if job_name:
        record["jobName"] = job_name
    if retry_count is not None:
        record["retryCount"] = retry_count
    if redrive_count is not None:
        record["redriveCount"] = redrive_count
    return record


def new_poll_state(
    *,
    job_id: str,
    shard: str,
    first_wait_ms: int,
    interval_ms: int,
    max_attempts: int,
    input_bytes: int,
    now: datetime,
    ttl_days: int,
) -> PollState:
    """The poll state create_job writes beside the token record: first due after one wait, its
    heartbeat clock started now (the waiting task has just begun)."""
    return PollState(
        jobId=job_id,
        dueShard=shard,
        dueAt=epoch_ms(now) + first_wait_ms,
        intervalMs=interval_ms,
        heartbeatAt=epoch_ms(now),
        attemptCount=0,
        maxAttempts=max_attempts,
        inputBytes=input_bytes,
        createdAt=iso(now),
        expiresAt=expires_at(now, ttl_days),
    )


def expires_at(now: datetime, ttl_days: int) -> int:
    """When DynamoDB's time to live may delete a record (epoch seconds)."""
    return int((now + timedelta(days=ttl_days)).timestamp())


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def normalise(plain: dict[str, Any]) -> Any:
    """A record read from DynamoDB (numbers as Decimal) with its integer fields as int."""
    for key in INT_FIELDS:
        if key in plain:
            plain[key] = int(plain[key])
    return plain
