"""What the poller does with a job after one status check: pure functions, no AWS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

from common.job_api import StatusReport

# Step Functions errors that mean the token will never be accepted again.
TOKEN_GONE_ERRORS = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})

CAUSE_LIMIT = 32_768  # SendTaskFailure's cause limit (characters)
OUTPUT_LIMIT_BYTES = 262_144  # SendTaskSuccess's output limit (256 KiB)


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


def decide(report: StatusReport, *, attempt: int, max_attempts: int) -> Decision:
    """Decide after the attempt-th status check (attempts count from 1).

    A finished job wins over the attempt limit: a job that completes on its last allowed check succeeds.
    """
    status = report.get("status")
    job_id = report.get("jobId", "?")
    if status == "COMPLETED":
        output = json.dumps(report.get("result", {}))
        size = len(output.encode())
        if size > OUTPUT_LIMIT_BYTES:
            return Decision(
                action=Action.FAIL,
                final_status="FAILED",
                error="JobFailed",
                cause=f"job {job_id} completed, but its result ({size:,} bytes) exceeds the "
                f"{OUTPUT_LIMIT_BYTES:,}-byte limit of SendTaskSuccess output",
            )
        return Decision(action=Action.SUCCEED, final_status="COMPLETED", output=output)
    if status == "FAILED":
        cause = report.get("error") or f"job {job_id} failed"
        return Decision(action=Action.FAIL, final_status="FAILED", error="JobFailed", cause=cause[:CAUSE_LIMIT])
    if status != "IN_PROGRESS":
        return Decision(
            action=Action.FAIL,
            final_status="FAILED",
            error="JobFailed",
            cause=f"job API reported unknown status {status!r} for job {job_id}",
        )
    if attempt >= max_attempts:
        return Decision(
            action=Action.FAIL,
            final_status="MAX_ATTEMPTS",
            error="MaxAttemptsExceeded",
            cause=f"job {job_id} still IN_PROGRESS after {attempt} poll attempts (limit {max_attempts})",
        )
    return Decision(action=Action.HEARTBEAT)


def job_lost(job_id: str, message: str) -> Decision:
    """The API no longer knows the job: end the execution instead of polling forever."""
    return Decision(
        action=Action.FAIL,
        final_status="FAILED",
        error="JobFailed",
        cause=f"job {job_id} unknown to the job API: {message}",
    )
