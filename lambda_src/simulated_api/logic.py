"""The simulated external API's rules, free of AWS: what a job is and how a status check moves it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from common.job_api import OUTCOMES, Outcome


class InvalidRequest(ValueError):
    """The request to the simulated API is malformed."""


class JobNotFound(LookupError):
    """No job with this id exists (raised to the caller as the error type JobNotFound)."""


@dataclass(frozen=True, kw_only=True)
class NewJob:
    outcome: Outcome
    completion_polls: int
    payload: dict[str, Any]


def plan_job(
    simulate: Any, payload: Any, *, polls_min: int, polls_max: int, rng: random.Random | None = None
) -> NewJob:
    """Decide how a new job behaves: its outcome and after how many status checks it ends."""
    simulate = simulate or {}
    if not isinstance(simulate, dict):
        raise InvalidRequest("simulate must be an object")
    outcome = simulate.get("outcome", "SUCCEED")
    if outcome not in OUTCOMES:
        raise InvalidRequest(f"simulate.outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    polls = simulate.get("completionPolls")
    if polls is None:
        polls = (rng or random).randint(polls_min, polls_max)
    elif isinstance(polls, bool) or not isinstance(polls, int) or polls < 1:
        raise InvalidRequest(f"simulate.completionPolls must be a positive integer, got {polls!r}")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InvalidRequest("payload must be an object")
    return NewJob(outcome=outcome, completion_polls=polls, payload=payload)


def status_after_poll(*, outcome: Outcome, poll_count: int, completion_polls: int) -> str:
    """The job's status once it has been checked poll_count times."""
    if poll_count < completion_polls or outcome == "NEVER_FINISH":
        return "IN_PROGRESS"
    return "COMPLETED" if outcome == "SUCCEED" else "FAILED"


def job_result(*, job_id: str, poll_count: int, payload: dict[str, Any], finished_at: str) -> dict[str, Any]:
    """What a completed job hands back; the poller passes it on as the task output."""
    return {
        "jobId": job_id,
        "message": f"job finished after {poll_count} status checks",
        "finishedAt": finished_at,
        "payload": payload,
    }


def failure_reason(*, job_id: str, poll_count: int) -> str:
    return f"simulated failure of job {job_id} after {poll_count} status checks"
