"""Both designs side by side: the estimate (cost, saving, break-even, warnings) and the sweep over polls."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from callbackctl.cost.breakeven import MAX_POLLS_SEARCH, BreakEven, find_break_even, saving_pct
from callbackctl.cost.model import LAMBDA_MAX_MS, Design, SchedulerMode, Workload, design_cost, totals
from callbackctl.cost.prices import Architecture, DesignCost, Prices, default_prices, price_measured
from callbackctl.cost.usage import MeasuredUsage

SELECTED_POLLS = (1, 2, 5, 10, 20, 50, 100)


@dataclass(frozen=True)
class Estimate:
    callback: DesignCost
    loop: DesignCost
    saving_usd: float
    saving_pct: float | None  # (loop - callback) / loop * 100; None when the loop costs nothing
    break_even: BreakEven | None
    jobs_per_month: int
    workload: Workload | None = None  # None for measured counts
    prices_as_of: str = ""
    region: str = ""
    sources: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = dict(self.sources)
        for key in ("callback", "loop"):
            data[key]["by_service"] = getattr(self, key).by_service()
        return data


ASSUMPTIONS = (
    "List prices from prices.json; a month is 30 days (rate(1 minute) = 43,200 runs).",
    (
        "Free tiers, when applied, are subtracted once from each design's monthly usage: each design is "
        "priced as if it were the account's only workload."
    ),
    (
        "Both designs call the simulated API Lambda once to create a job and once per poll; the loop "
        "invokes it from the state machine, the callback from create_job and the poller."
    ),
    (
        "DynamoDB on-demand: ceil(item KB) WRUs per write. Per job the token record is written once at the "
        "start and twice at the end (two transactions, billed double); the small poll state once per poll "
        "(the claim), plus its put and the two end transactions; the ByDue index 4 + 2p writes (a claim moves "
        "dueAt, its sort key: delete + put). Heartbeats and the final decision read the token record; index "
        "queries 0.5 RRU per 4 KB of keys, at least 0.5 per run; no free tier for on-demand requests."
    ),
)


def _poller_warnings(workload: Workload) -> tuple[str, ...]:
    w = workload
    if w.scheduler != SchedulerMode.STATIC or w.jobs_per_month == 0:
        return ()
    jobs_per_run = w.jobs_per_month * w.polls_per_job / w.scheduled_runs
    run_ms = w.poller.duration_ms + jobs_per_run * w.poller_per_job_ms
    if run_ms > LAMBDA_MAX_MS:
        return (
            (
                f"an average poller run would last {run_ms / 1000:,.0f} s ({jobs_per_run:,.0f} jobs per run), "
                "over Lambda's 15-minute limit: raise POLLER_CONCURRENCY or run the schedule more often"
            ),
        )
    return ()


def estimate(
    workload: Workload,
    prices: Prices | None = None,
    *,
    with_break_even: bool = True,
    max_polls: int = MAX_POLLS_SEARCH,
) -> Estimate:
    prices = prices or default_prices()
    callback = design_cost(workload, Design.CALLBACK, prices)
    loop = design_cost(workload, Design.LOOP, prices)
    return Estimate(
        callback=callback,
        loop=loop,
        saving_usd=loop.total_usd - callback.total_usd,
        saving_pct=saving_pct(callback.total_usd, loop.total_usd),
        break_even=find_break_even(workload, prices, max_polls) if with_break_even else None,
        jobs_per_month=workload.jobs_per_month,
        workload=workload,
        prices_as_of=prices.as_of,
        region=prices.region,
        sources=prices.sources,
        warnings=_poller_warnings(workload),
        assumptions=ASSUMPTIONS,
    )


def estimate_measured(
    callback: MeasuredUsage,
    loop: MeasuredUsage,
    jobs_per_month: int,
    *,
    prices: Prices | None = None,
    architecture: Architecture = Architecture.X86_64,
    free_tier: bool = False,
) -> Estimate:
    """Price counts measured from real executions with the same code as the formula."""
    prices = prices or default_prices()
    kw: dict[str, Any] = {"prices": prices, "architecture": architecture, "free_tier": free_tier}
    cb = price_measured(callback, jobs_per_month, design=str(Design.CALLBACK), **kw)
    lp = price_measured(loop, jobs_per_month, design=str(Design.LOOP), **kw)
    return Estimate(
        callback=cb,
        loop=lp,
        saving_usd=lp.total_usd - cb.total_usd,
        saving_pct=saving_pct(cb.total_usd, lp.total_usd),
        break_even=None,
        jobs_per_month=jobs_per_month,
        prices_as_of=prices.as_of,
        region=prices.region,
        sources=prices.sources,
        assumptions=ASSUMPTIONS,
    )


@dataclass(frozen=True)
class SweepPoint:
    polls_per_job: int
    callback_usd: float
    loop_usd: float
    saving_pct: float | None


def sweep(workload: Workload, polls: Iterable[int], prices: Prices | None = None) -> list[SweepPoint]:
    prices = prices or default_prices()
    points = []
    for p in polls:
        callback_usd, loop_usd = totals(workload, p, prices)
        points.append(SweepPoint(p, callback_usd, loop_usd, saving_pct(callback_usd, loop_usd)))
    return points
