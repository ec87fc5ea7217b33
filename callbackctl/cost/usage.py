"""Billable quantities: one design's usage for a month or per job, and the checks the model's inputs share."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


def check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{name} must be {bound}, got {value}")


def check_number(name: str, value: object, minimum: float, *, strict: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum:g}, got {value}")


def _camel(name: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


@dataclass(frozen=True)
class Usage:
    """Billable quantities (per month, or per job when inside :class:`MeasuredUsage`)."""

    transitions: float = 0.0
    lambda_requests: float = 0.0
    lambda_gb_s: float = 0.0
    scheduler_invocations: float = 0.0
    ddb_wru: float = 0.0
    ddb_rru: float = 0.0

    def __post_init__(self) -> None:
        for name in USAGE_FIELDS:
            value = getattr(self, name)
            if type(value) is not float and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"usage {name} must be a number, got {value!r}")
            if not 0 <= value < math.inf:
                raise ValueError(f"usage {name} must be a finite number >= 0, got {value!r}")

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(getattr(self, name) + getattr(other, name) for name in USAGE_FIELDS))

    def scaled(self, factor: float) -> Usage:
        return Usage(*(getattr(self, name) * factor for name in USAGE_FIELDS))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "usage") -> Usage:
        """Fields by name, snake_case or the camelCase the tools' JSON uses (``lambdaGbS``)."""
        names = {alias: f.name for f in fields(cls) for alias in (f.name, _camel(f.name))}
        unknown = sorted(set(data) - set(names))
        if unknown:
            expected = ", ".join(_camel(f.name) for f in fields(cls))
            raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; expected {expected}")
        return cls(
            **{names[k]: float(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in data.items()}
        )


USAGE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Usage))


@dataclass(frozen=True)
class MeasuredUsage:
    """One design's counts: per job, plus usage per month that does not scale with jobs.

    The benchmark fills ``per_job`` from real executions (transitions from the execution history,
    Lambda requests and GB-s from REPORT lines: memory MB / 1024 * billed ms / 1000, scheduler
    invocations, consumed capacity from DynamoDB) and ``fixed_monthly`` with what a static schedule
    costs whatever the volume (its invocations, the poller's empty runs).
    """

    per_job: Usage
    fixed_monthly: Usage = field(default_factory=Usage)

    def monthly(self, jobs_per_month: int) -> Usage:
        check_int("jobs_per_month", jobs_per_month, 0)
        return self.fixed_monthly + self.per_job.scaled(jobs_per_month)

    @classmethod
    def from_totals(cls, total: Usage, jobs: int, fixed_monthly: Usage | None = None) -> MeasuredUsage:
        """Per-job counts from the totals of ``jobs`` measured executions."""
        check_int("jobs", jobs, 1)
        return cls(per_job=total.scaled(1 / jobs), fixed_monthly=fixed_monthly or Usage())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "measured") -> MeasuredUsage:
        """``{"perJob": {...}, "fixedMonthly": {...}}`` (or per_job / fixed_monthly)."""
        per_job = data.get("perJob", data.get("per_job"))
        fixed = data.get("fixedMonthly", data.get("fixed_monthly", {}))
        unknown = sorted(set(data) - {"perJob", "per_job", "fixedMonthly", "fixed_monthly"})
        if unknown or not isinstance(per_job, Mapping) or not isinstance(fixed, Mapping):
            raise ValueError(f"{where}: expected objects perJob (required) and fixedMonthly, got keys {sorted(data)}")
        return cls(
            per_job=Usage.from_dict(per_job, f"{where}.perJob"),
            fixed_monthly=Usage.from_dict(fixed, f"{where}.fixedMonthly"),
        )


def lambda_gb_s(memory_mb: float, duration_ms: float) -> float:
    """GB-seconds of one invocation (Lambda bills memory in MB / 1024 times billed seconds)."""
    return memory_mb / 1024 * duration_ms / 1000
