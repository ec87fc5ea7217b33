"""The poller's EventBridge Scheduler schedule: turn it on and off, and how often it fires."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from callbackctl.deployment.targets import Target

ScheduleState = Literal["ENABLED", "DISABLED"]

# What UpdateSchedule needs back from GetSchedule (it replaces the whole schedule).
_SCHEDULE_FIELDS = (
    "Name",
    "GroupName",
    "ScheduleExpression",
    "FlexibleTimeWindow",
    "Target",
    "Description",
    "ScheduleExpressionTimezone",
    "StartDate",
    "EndDate",
    "KmsKeyArn",
    "ActionAfterCompletion",
)
_RATE = re.compile(r"rate\(\s*(\d+)\s+(minutes?|hours?|days?)\s*\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3_600, "day": 86_400}


def set_schedule_state(target: Target, schedule_name: str, state: ScheduleState) -> None:
    """Enable or disable a schedule (ENABLED | DISABLED), keeping everything else as it is."""
    scheduler = target.client("scheduler")
    current: Mapping[str, Any] = scheduler.get_schedule(Name=schedule_name)  # read by field name below
    scheduler.update_schedule(**{k: current[k] for k in _SCHEDULE_FIELDS if k in current}, State=state)


def rate_seconds(expression: str) -> float:
    """Seconds between firings of a ``rate(N unit)`` expression (the schedule's own clock)."""
    match = _RATE.fullmatch(expression.strip())
    if not match:
        raise ValueError(f"not a rate expression: {expression!r} (expected e.g. rate(1 minute))")
    count, unit = int(match.group(1)), match.group(2).rstrip("s")
    if count < 1:
        raise ValueError(f"a rate must be at least 1, got {expression!r}")
    return float(count * _UNIT_SECONDS[unit])


def schedule_interval_seconds(target: Target, schedule_name: str, clock_speed: float = 1.0) -> float:
    """Real seconds between the deployed schedule's firings, on a scheduler clock ``clock_speed`` times fast."""
    expression = target.client("scheduler").get_schedule(Name=schedule_name)["ScheduleExpression"]
    return rate_seconds(expression) / clock_speed
