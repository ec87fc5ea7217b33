"""What the poller does with a job: pure functions, no AWS.

`decide` turns one status report into a decision; `reconcile` turns the real end of an execution
that refused its token into the record's final status, so the record always says what the
execution did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

from common import records
from common.errors import (
    CAUSE_LIMIT,
    ERROR_LIMIT,
    JOB_FAILED,
    MAX_ATTEMPTS_EXCEEDED,
    RESULT_TOO_LARGE,
    STATE_SIZE_LIMIT_BYTES,
    cut,
)
from common.job_api import StatusReport
from common.records import StoredDecision

# Step Functions errors that mean the token will never be accepted again.
TOKEN_GONE_ERRORS = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
# Where the state machine puts the result (ResultPath "$.jobResult"): the state output is the
# execution input with this member added.
RESULT_MEMBER_BYTES = len(b',"jobResult":')


class Action(Enum):
    SUCCEED = "SUCCEED"  # SendTaskSuccess with the job result
    FAIL = "FAIL"  # SendTaskFailure
    HEARTBEAT = "HEARTBEAT"  # SendTaskHeartbeat and keep polling


@dataclass(frozen=True, kw_only=True)
class Decision:
    action: Action
    final_status: str | None = None  # the token record's status once the send succeeded
    output: str | None = None  # SendTaskSuccess output (JSON text)
    error: str | None = None
    cause: str | None = None

    def stored(self) -> StoredDecision:
        """The decision as written to the record before it is sent."""
        assert self.action is not Action.HEARTBEAT and self.final_status is not None
        stored = StoredDecision(action="SUCCEED" if self.action is Action.SUCCEED else "FAIL")
        stored["finalStatus"] = self.final_status
        for key, value in (("output", self.output), ("error", self.error), ("cause", self.cause)):
            if value is not None:
                stored[key] = value  # type: ignore[literal-required]
        return stored

    @classmethod
    def from_stored(cls, stored: StoredDecision) -> Decision:
        return cls(
            action=Action(stored["action"]),
            final_status=stored["finalStatus"],
            output=stored.get("output"),
            error=stored.get("error"),
            cause=stored.get("cause"),
        )


def failure(final_status: str, error: str, cause: str) -> Decision:
    """A SendTaskFailure decision, cut to the API's limits (a longer cause would be rejected)."""
    return Decision(
        action=Action.FAIL, final_status=final_status, error=cut(error, ERROR_LIMIT), cause=cut(cause, CAUSE_LIMIT)
    )


def decide(report: StatusReport, *, attempt: int, max_attempts: int, input_bytes: int = 0) -> Decision:
    """Decide after the attempt-th answered status check (attempts count from 1).

    A finished job wins over the attempt limit: a job that completes on its last allowed check succeeds.
    input_bytes is the size of the execution input: with the result added it must fit the state limit.
    """
    status = report.get("status")
    job_id = report.get("jobId", "?")
    if status == "COMPLETED":
        output = json.dumps(report.get("result", {}), separators=(",", ":"), ensure_ascii=False)
        size = len(output.encode()) + input_bytes + RESULT_MEMBER_BYTES
        if size > STATE_SIZE_LIMIT_BYTES:
            return failure(
                records.FAILED,
                RESULT_TOO_LARGE,
                f"job {job_id} completed, but its result with the execution input ({size:,} bytes) exceeds "
                f"the {STATE_SIZE_LIMIT_BYTES:,}-byte limit of Step Functions state data",
            )
        return Decision(action=Action.SUCCEED, final_status=records.COMPLETED, output=output)
    if status == "FAILED":
        return failure(records.FAILED, JOB_FAILED, str(report.get("error") or f"job {job_id} failed"))
    if status == "CANCELLED":
        return failure(records.FAILED, JOB_FAILED, f"job {job_id} was cancelled at the job API")
    if status != "IN_PROGRESS":
        return failure(records.FAILED, JOB_FAILED, f"job API reported unknown status {status!r} for job {job_id}")
    if attempt >= max_attempts:
        return failure(
            records.MAX_ATTEMPTS,
            MAX_ATTEMPTS_EXCEEDED,
            f"job {job_id} still IN_PROGRESS after {attempt} poll attempts (limit {max_attempts})",
        )
    return Decision(action=Action.HEARTBEAT)


def job_lost(job_id: str, message: str) -> Decision:
    """The API no longer knows the job: end the execution instead of polling forever."""
    return failure(records.FAILED, JOB_FAILED, f"job {job_id} unknown to the job API: {message}")


@dataclass(frozen=True, kw_only=True)
class Reconciled:
    """The record's fate once the execution refused its token."""

    final_status: str | None  # None: the execution still runs (the token was replaced); keep polling
    cancel_job: bool  # nobody waits for the job any more: cancel it at the API
    detail: str


# An execution's error -> the record status the poller's own SendTaskFailure would have left.
_FAILURE_STATUS = {
    JOB_FAILED: records.FAILED,
    RESULT_TOO_LARGE: records.FAILED,
    MAX_ATTEMPTS_EXCEEDED: records.MAX_ATTEMPTS,
}


# Not a Step Functions status: the execution was redriven after the run the record belongs to, so
# DescribeExecution describes a later run and the record's own run has ended. The record becomes
# EXPIRED and its job is cancelled: that run ended without our callback (timed out, failed
# elsewhere, stopped), or, rarely, on our own SendTaskFailure whose final write was lost; then the
# record says EXPIRED, not FAILED, and the cancel finds the job already ended.
REDRIVEN = "REDRIVEN"


def reconcile(execution_status: str | None, execution_error: str | None, refused: str) -> Reconciled:
    """What the record becomes when a send was refused with a token error (`refused`).

    execution_status is DescribeExecution's status (None: the execution no longer exists). A
    SUCCEEDED execution, or one FAILED with one of our own error names, got our callback earlier
    (a resend after a crash or a lost reply): the record takes that end. Otherwise the execution
    ended without us (stopped, timed out, failed elsewhere) and the job is cancelled.
    """
    detail = f"{refused}; execution {execution_status or 'not found'}"
    if execution_status == "RUNNING":
        return Reconciled(final_status=None, cancel_job=False, detail=detail)
    if execution_status == "SUCCEEDED":
        return Reconciled(final_status=records.COMPLETED, cancel_job=False, detail=detail)
    if execution_status == "FAILED" and execution_error in _FAILURE_STATUS:
        return Reconciled(final_status=_FAILURE_STATUS[execution_error], cancel_job=False, detail=detail)
    if execution_status == "ABORTED":
        return Reconciled(final_status=records.CANCELLED, cancel_job=True, detail=detail)
    if execution_error:
        detail = f"{detail} ({execution_error})"
    return Reconciled(final_status=records.EXPIRED, cancel_job=True, detail=detail)
