"""Measured counts -> the cost model: per-job and fixed usage of each design, the formula set to the
measured inputs, where formula and measurement disagree, and the price per 1,000 jobs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from callbackctl.bench.billing import (
    IdleRun,
    LambdaCount,
    PollStateCounts,
    TokenTableCounts,
    Transitions,
    query_read_units,
)
from callbackctl.cost.estimate import estimate_measured
from callbackctl.cost.model import LambdaProfile, Workload
from callbackctl.cost.prices import Prices, price_usage
from callbackctl.cost.usage import USAGE_FIELDS, MeasuredUsage, Usage


def loop_measured(*, jobs: int, transitions: Transitions, api: LambdaCount) -> MeasuredUsage:
    """The polling loop's measured usage: every call comes from the state machine, nothing is fixed."""
    total = Usage(transitions=transitions.total, lambda_requests=api.invocations, lambda_gb_s=api.gb_s)
    return MeasuredUsage.from_totals(total, jobs)


def callback_measured(
    *,
    jobs: int,
    transitions: Transitions,
    create_job: LambdaCount,
    api: LambdaCount,
    poller: LambdaCount,
    table: TokenTableCounts,
    idle: IdleRun,
    runs_per_month: float,
    extra_token_bytes: int = 0,
    poll: PollStateCounts | None = None,
) -> MeasuredUsage:
    """The callback design's measured usage: per job what the jobs added, fixed what the schedule costs.

    The window's poller runs are counted as fixed (they happen whatever the volume); only their billed
    time above an idle run's, and their reads above the minimum, are the jobs' share.
    """
    poller_extra_gb_s = max(0.0, poller.gb_s - poller.invocations * idle.poller_gb_s)
    entry = poll.index_entry_bytes if poll is not None else table.index_entry_bytes
    rru = query_read_units(table.queries, table.query_items, entry)
    total = Usage(
        transitions=transitions.total,
        lambda_requests=create_job.invocations + api.invocations,
        lambda_gb_s=create_job.gb_s + api.gb_s + poller_extra_gb_s,
        ddb_wru=table.write_units(extra_token_bytes) + (poll.write_units() if poll is not None else 0.0),
        ddb_rru=max(0.0, rru - 0.5 * table.queries) + table.read_units(extra_token_bytes),
    )
    return MeasuredUsage.from_totals(total, jobs, fixed_monthly=idle.monthly(runs_per_month))


def calibrated_workload(
    *,
    polls: int,
    jobs_per_month: int,
    create_job: LambdaCount,
    api: LambdaCount,
    poller_memory_mb: int,
    idle: IdleRun,
    poller_per_job_ms: float,
    record_bytes: int,
    poll_state_bytes: int = 200,
    heartbeats_per_job: float | None = None,
) -> Workload:
    """The cost model's formula inputs, set to what was measured (memory, durations, item size), so a
    difference between formula and measurement is about the counts, not the inputs."""
    return Workload(
        jobs_per_month=jobs_per_month,
        polls_per_job=polls,
        create_job=LambdaProfile(create_job.memory_mb, create_job.avg_ms),
        api_create=LambdaProfile(api.memory_mb, api.avg_ms),
        api_check=LambdaProfile(api.memory_mb, api.avg_ms),
        poller=LambdaProfile(poller_memory_mb, idle.poller_ms),
        poller_per_job_ms=poller_per_job_ms,
        token_item_kb=max(record_bytes, 1) / 1024,
        # The poll-state layout the poller uses (lambda_src/poller/store.py): the bench counts both
        # tables, so the formula is that of this layout.
        poll_state_table=True,
        poll_state_kb=max(poll_state_bytes, 1) / 1024,
        heartbeats_per_job=heartbeats_per_job,
    )


@dataclass(frozen=True)
class Disagreement:
    design: str
    part: str  # per_job | fixed_monthly
    metric: str
    formula: float
    measured: float

    @property
    def pct(self) -> float | None:
        """(measured - formula) / formula, in percent; None when the formula says 0."""
        if self.formula == 0:
            return None
        return (self.measured - self.formula) / self.formula * 100

    def describe(self) -> str:
        pct = "formula 0" if self.pct is None else f"{self.pct:+.1f}%"
        return (
            f"{self.design} {self.metric} ({self.part}): "
            f"formula {num(self.formula)}, measured {num(self.measured)} ({pct})"
        )


def compare(
    design: str, formula: MeasuredUsage, measured: MeasuredUsage, *, tolerance_pct: float = 5.0, floor: float = 1e-9
) -> list[Disagreement]:
    """Every metric where formula and measurement differ by more than ``tolerance_pct`` percent."""
    out = []
    for part in ("per_job", "fixed_monthly"):
        f_usage, m_usage = getattr(formula, part), getattr(measured, part)
        for metric in USAGE_FIELDS:
            f, m = float(getattr(f_usage, metric)), float(getattr(m_usage, metric))
            if abs(f - m) <= floor:
                continue
            if f == 0 or abs(m - f) / abs(f) * 100 > tolerance_pct:
                out.append(Disagreement(design, part, metric, f, m))
    return out


@dataclass(frozen=True)
class CostFigures:
    """Dollars per 1,000 jobs for both designs: marginal, and with the fixed part at a monthly volume."""

    callback_marginal: float
    loop_marginal: float
    callback_at_volume: float
    loop_at_volume: float
    jobs_per_month: int

    @property
    def ratio_marginal(self) -> float | None:
        return ratio(self.callback_marginal, self.loop_marginal)

    @property
    def ratio_at_volume(self) -> float | None:
        return ratio(self.callback_at_volume, self.loop_at_volume)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio_marginal": self.ratio_marginal, "ratio_at_volume": self.ratio_at_volume}


def cost_figures(
    callback: MeasuredUsage, loop: MeasuredUsage, jobs_per_month: int, prices: Prices | None = None
) -> CostFigures:
    """Price both designs with the cost model (no free tier)."""
    est = estimate_measured(callback, loop, jobs_per_month, prices=prices)
    per_1000 = 1000 / jobs_per_month if jobs_per_month else 0.0
    return CostFigures(
        callback_marginal=price_usage(callback.per_job.scaled(1000), prices=prices).total_usd,
        loop_marginal=price_usage(loop.per_job.scaled(1000), prices=prices).total_usd,
        callback_at_volume=est.callback.total_usd * per_1000,
        loop_at_volume=est.loop.total_usd * per_1000,
        jobs_per_month=jobs_per_month,
    )


def measured_dict(m: MeasuredUsage) -> dict[str, Any]:
    return {"per_job": asdict(m.per_job), "fixed_monthly": asdict(m.fixed_monthly)}


def price_phase(
    measured: Mapping[str, MeasuredUsage],
    formula: Mapping[str, MeasuredUsage],
    fixed_monthly: Usage,
    *,
    jobs_per_month: int,
    tolerance_pct: float,
) -> dict[str, Any]:
    """Price one polls-per-job setting once the static schedule's fixed monthly part is known.

    ``measured`` holds ``callback``, ``callbackAwsToken`` and ``loop``; ``formula`` ``callback`` and
    ``loop``. Only the callback gets the fixed part (the loop has no schedule). Returns the figures
    to add to the phase: measured usage, disagreements with the formula, cost per 1,000 jobs.
    """
    priced = {
        k: replace(m, fixed_monthly=fixed_monthly) if k.startswith("callback") else m for k, m in measured.items()
    }
    disagreements = [
        d
        for design in ("callback", "loop")
        for d in compare(design, formula[design], priced[design], tolerance_pct=tolerance_pct)
    ]
    return {
        "loop": {"measured": measured_dict(priced["loop"])},
        "callback": {
            "measured": measured_dict(priced["callback"]),
            "measuredWithAwsSizedToken": measured_dict(priced["callbackAwsToken"]),
        },
        "disagreements": [{**asdict(d), "pct": d.pct} for d in disagreements],
        "cost": cost_figures(priced["callback"], priced["loop"], jobs_per_month).to_dict(),
        "costWithAwsSizedToken": cost_figures(priced["callbackAwsToken"], priced["loop"], jobs_per_month).to_dict(),
        "gbSecondsSharePct": {"callback": gb_s_share_pct(priced["callback"]), "loop": gb_s_share_pct(priced["loop"])},
    }


def gb_s_share_pct(measured: MeasuredUsage, prices: Prices | None = None) -> float:
    """The part of a design's marginal cost that is Lambda duration (GB-s), in percent."""
    priced = price_usage(measured.per_job.scaled(1000), prices=prices)
    duration = sum(line.cost_usd for line in priced.lines if line.item == "GB-seconds")
    return duration / priced.total_usd * 100 if priced.total_usd > 0 else 0.0


def ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def num(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 0.01:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"
