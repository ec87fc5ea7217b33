"""The simulated external API's rules, free of AWS: what a job is and how a status check moves it."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

from common.job_api import SIMULATED_OUTCOMES, Outcome


class InvalidRequest(ValueError):
    """The request to the simulated API is malformed."""


class JobNotFound(LookupError):
    """No job with this id exists (raised to the caller as the error type JobNotFound)."""


class IdempotencyConflict(ValueError):
    """CREATE_JOB was called again with an idempotency key used for a different request."""


class ServiceUnavailable(RuntimeError):
    """An injected outage (SIMULATED_FAULTS): the API answers nothing useful."""


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Faults a test switches on through the function's SIMULATED_FAULTS variable (JSON):
    `{"checkStatus": "unavailable"}` fails every status check; `{"createDelaySeconds": 20}`
    sleeps after starting a new job, so a caller with a shorter timeout gives up after the job exists."""

    check_unavailable: bool = False
    create_delay_seconds: float = 0

    @classmethod
    def parse(cls, raw: str | None) -> Faults:
        if not raw:
            return cls()
        try:
            spec = json.loads(raw)
        except json.JSONDecodeError:
            raise InvalidRequest(f"SIMULATED_FAULTS is not JSON: {raw[:100]!r}") from None
        unknown = sorted(set(spec) - {"checkStatus", "createDelaySeconds"}) if isinstance(spec, dict) else ["?"]
        if unknown:
            raise InvalidRequest(f"SIMULATED_FAULTS: unknown fault(s) {', '.join(unknown)}")
        check = spec.get("checkStatus")
        if check not in (None, "unavailable"):
            raise InvalidRequest(f"SIMULATED_FAULTS: checkStatus must be 'unavailable', got {check!r}")
        delay = spec.get("createDelaySeconds", 0)
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 900:
            raise InvalidRequest(f"SIMULATED_FAULTS: createDelaySeconds must be 0..900, got {delay!r}")
        return cls(check_unavailable=check == "unavailable", create_delay_seconds=float(delay))


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
    if outcome not in SIMULATED_OUTCOMES:
        raise InvalidRequest(f"simulate.outcome must be one of {', '.join(SIMULATED_OUTCOMES)}, got {outcome!r}")
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


def request_hash(simulate: Any, payload: Any) -> str:
    """A fingerprint of a CREATE_JOB request: a retry under the same idempotency key must match it."""
    text = json.dumps({"simulate": simulate or {}, "payload": payload or {}}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


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
