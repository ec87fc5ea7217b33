"""Validation of the execution input (see docs/design.md), free of AWS."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from common.errors import INVALID_JOB_INPUT
from common.job_api import SIMULATED_OUTCOMES
from common.schedule import PollSchedule

ALLOWED_KEYS = {"jobName", "payload", "simulate", "maxAttempts", "pollIntervalSeconds"}
ALLOWED_SIMULATE_KEYS = {"outcome", "completionPolls"}
COMPLETION_POLLS_LIMIT = 100
JOB_NAME_LIMIT = 128


class InvalidJobInput(ValueError):
    """The execution input is not a valid job request; the message names the field to fix."""


assert InvalidJobInput.__name__ == INVALID_JOB_INPUT  # the error name the state machine routes


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What the stage allows: polls that fit in its task timeout, and an input small enough that
    input and job result together fit the 256 KiB state limit."""

    max_attempts: int
    max_input_bytes: int
    # The stage's poll schedule: the first intervals an execution may ask for and how many
    # attempts then fit. None: pollIntervalSeconds is refused.
    schedule: PollSchedule | None = None


@dataclass(frozen=True, kw_only=True)
class JobRequest:
    job_name: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    simulate: dict[str, Any] = field(default_factory=dict)
    max_attempts: int | None = None
    input_bytes: int = 0
    poll_interval: float | None = None  # the first wait between polls the execution asked for (real s)


def json_size(value: Any) -> int:
    """Bytes of value as compact UTF-8 JSON, the way Step Functions measures state data."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _int_in_range(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidJobInput(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def parse_job_request(raw: Any, limits: Limits) -> JobRequest:
    """Turn the execution input into a JobRequest, or raise InvalidJobInput saying what to fix."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
        got = kind.get(type(raw), type(raw).__name__)
        raise InvalidJobInput(f'execution input must be a JSON object such as {{"payload": {{}}}}, got {got}')
    size = json_size(raw)
    if size > limits.max_input_bytes:
        raise InvalidJobInput(
            f"execution input is {size:,} bytes; the limit is {limits.max_input_bytes:,} bytes, so that the input "
            "and the job result together fit Step Functions' 256 KiB state limit"
        )
    unknown = sorted(set(raw) - ALLOWED_KEYS)
    if unknown:
        raise InvalidJobInput(
            f"unknown field(s) {', '.join(unknown)} in execution input; allowed: {', '.join(sorted(ALLOWED_KEYS))}"
        )
    job_name = raw.get("jobName")
    if job_name is not None and (not isinstance(job_name, str) or not 1 <= len(job_name) <= JOB_NAME_LIMIT):
        raise InvalidJobInput(f"jobName must be a string of 1 to {JOB_NAME_LIMIT} characters, got {job_name!r}")
    payload = raw.get("payload", {})
    if not isinstance(payload, dict):
        raise InvalidJobInput(f"payload must be a JSON object, got {type(payload).__name__}")
    simulate = raw.get("simulate", {})
    if not isinstance(simulate, dict):
        raise InvalidJobInput(f"simulate must be a JSON object, got {type(simulate).__name__}")
    unknown = sorted(set(simulate) - ALLOWED_SIMULATE_KEYS)
    if unknown:
        raise InvalidJobInput(
            f"unknown field(s) {', '.join(unknown)} in simulate; allowed: {', '.join(sorted(ALLOWED_SIMULATE_KEYS))}"
        )
    outcome = simulate.get("outcome", "SUCCEED")
    if outcome not in SIMULATED_OUTCOMES:
        raise InvalidJobInput(f"simulate.outcome must be one of {', '.join(SIMULATED_OUTCOMES)}, got {outcome!r}")
    if "completionPolls" in simulate:
        _int_in_range(simulate["completionPolls"], "simulate.completionPolls", 1, COMPLETION_POLLS_LIMIT)
    poll_interval, attempts_limit = _poll_interval(raw, limits)
    max_attempts = raw.get("maxAttempts")
    if max_attempts is not None:
        try:
            max_attempts = _int_in_range(max_attempts, "maxAttempts", 1, attempts_limit)
        except InvalidJobInput as err:
            raise InvalidJobInput(
                f"{err}: the stage's task timeout leaves room for at most {attempts_limit} status checks"
                + (" at this pollIntervalSeconds" if poll_interval is not None else "")
            ) from None
    return JobRequest(
        job_name=job_name,
        payload=payload,
        simulate=simulate,
        max_attempts=max_attempts,
        input_bytes=size,
        poll_interval=poll_interval,
    )


def _poll_interval(raw: dict[str, Any], limits: Limits) -> tuple[float | None, int]:
    """The first poll interval the execution asked for (real seconds) and the attempts that fit."""
    value = raw.get("pollIntervalSeconds")
    if value is None:
        return None, limits.max_attempts
    if limits.schedule is None:
        raise InvalidJobInput("pollIntervalSeconds is not supported by this stage")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidJobInput(f"pollIntervalSeconds must be a number of seconds, got {value!r}")
    try:
        interval = limits.schedule.requested_initial(value)
    except ValueError as err:
        raise InvalidJobInput(str(err)) from None
    fitting = limits.schedule.attempts_limit(interval)
    if fitting < 1:
        raise InvalidJobInput(
            f"pollIntervalSeconds {value:g} leaves no time for a status check before the task times out"
        )
    return interval, min(limits.max_attempts, fitting)
