"""Validation of the execution input (see docs/design.md), free of AWS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.job_api import OUTCOMES

ALLOWED_KEYS = {"jobName", "payload", "simulate", "maxAttempts"}
ALLOWED_SIMULATE_KEYS = {"outcome", "completionPolls"}
MAX_ATTEMPTS_LIMIT = 1000
COMPLETION_POLLS_LIMIT = 100


class InvalidJobInput(ValueError):
    """The execution input is not a valid job request; the message names the field to fix."""


@dataclass(frozen=True, kw_only=True)
class JobRequest:
    job_name: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    simulate: dict[str, Any] = field(default_factory=dict)
    max_attempts: int | None = None


def _int_in_range(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidJobInput(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def parse_job_request(raw: Any) -> JobRequest:
    """Turn the execution input into a JobRequest, or raise InvalidJobInput saying what to fix."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidJobInput(f"execution input must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - ALLOWED_KEYS)
    if unknown:
        raise InvalidJobInput(
            f"unknown field(s) {', '.join(unknown)} in execution input; allowed: {', '.join(sorted(ALLOWED_KEYS))}"
        )
    job_name = raw.get("jobName")
    if job_name is not None and (not isinstance(job_name, str) or not 1 <= len(job_name) <= 128):
        raise InvalidJobInput(f"jobName must be a string of 1 to 128 characters, got {job_name!r}")
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
    if outcome not in OUTCOMES:
        raise InvalidJobInput(f"simulate.outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if "completionPolls" in simulate:
        _int_in_range(simulate["completionPolls"], "simulate.completionPolls", 1, COMPLETION_POLLS_LIMIT)
    max_attempts = raw.get("maxAttempts")
    if max_attempts is not None:
        max_attempts = _int_in_range(max_attempts, "maxAttempts", 1, MAX_ATTEMPTS_LIMIT)
    return JobRequest(job_name=job_name, payload=payload, simulate=simulate, max_attempts=max_attempts)
