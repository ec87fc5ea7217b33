"""Reading the environment once, with errors that say which variable to fix."""

from __future__ import annotations

import os

from common.schedule import PollSchedule


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or malformed."""


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set; the stack sets it on the function")
    return value


def env_int(name: str, default: int | None = None, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        if default is None:
            raise ConfigurationError(f"environment variable {name} is not set; the stack sets it on the function")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigurationError(f"environment variable {name}={value} must be >= {minimum}")
    return value


def env_float(name: str) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        raise ConfigurationError(f"environment variable {name} is not set; the stack sets it on the function")
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name}={raw!r} is not a number") from None
    if not value > 0:
        raise ConfigurationError(f"environment variable {name}={value} must be > 0")
    return value


def env_poll_schedule(name: str = "POLL_SCHEDULE") -> PollSchedule:
    """The stage's poll schedule, as JSON written by the stack (stacks/config.py)."""
    raw = env_str(name)
    try:
        return PollSchedule.from_json(raw)
    except (ValueError, TypeError) as err:
        raise ConfigurationError(f"environment variable {name}={raw!r} is not a poll schedule: {err}") from None
