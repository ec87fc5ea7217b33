"""The cost model's text output: which workload was priced, the table of both designs, the sweep."""

from __future__ import annotations

from collections.abc import Sequence

from callbackctl.cost.breakeven import plural
from callbackctl.cost.estimate import Estimate, SweepPoint
from callbackctl.cost.model import SchedulerMode, Workload


def fmt_count(value: float) -> str:
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-6 or value >= 1000 else f"{value:,.2f}"


def fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def describe(workload: Workload, *, include_polls: bool = True) -> list[str]:
    """A few lines that say which workload was priced."""
    w = workload
    if w.scheduler == SchedulerMode.STATIC:
        sched = (
            f"one schedule rate({plural(w.schedule_rate_minutes, 'minute')}) = {w.scheduled_runs:,} poller runs/month"
        )
    else:
        sched = "one schedule per job (one poller invocation per poll)"
    named = (("create_job", w.create_job), ("API create", w.api_create), ("API check", w.api_check))
    if len({prof.memory_mb for _, prof in (*named, ("poller run", w.poller))}) == 1:
        fn = f" {w.poller.memory_mb} MB: " + ", ".join(f"{name} {prof.duration_ms:g} ms" for name, prof in named)
        fn += f", poller run {w.poller.duration_ms:g} ms"
    else:
        fn = ": " + ", ".join(
            f"{name} {prof.memory_mb} MB/{prof.duration_ms:g} ms" for name, prof in (*named, ("poller run", w.poller))
        )
    polls = f", {plural(w.polls_per_job, 'poll')} per job" if include_polls else ""
    free = "free tier applied" if w.free_tier else "no free tier"
    if w.gsi_writes:
        gsi = f", index entry {w.index_entry_kb:g} KB = {w.wru_per_index_write} WRU per index write"
    else:
        gsi = " (index writes left out)"
    return [
        f"{w.jobs_per_month:,} jobs/month{polls}, Lambda {w.architecture}, {free}",
        f"Scheduler: {sched}; token item {w.token_item_kb:g} KB = {w.wru_per_token_write} WRU per write{gsi}",
        f"Lambda{fn} + {w.poller_per_job_ms:g} ms per job checked",
    ]


def format_estimate(est: Estimate) -> str:
    header = ("service", "item", "callback usage", "callback $", "loop usage", "loop $")
    rows = [
        (a.service, a.item, fmt_count(a.usage), f"{a.cost_usd:,.4f}", fmt_count(b.usage), f"{b.cost_usd:,.4f}")
        for a, b in zip(est.callback.lines, est.loop.lines, strict=True)
    ]
    total = ("TOTAL / month", "", "", f"{est.callback.total_usd:,.4f}", "", f"{est.loop.total_usd:,.4f}")
    widths = [max(len(r[i]) for r in [header, *rows, total]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(cells)).rstrip()

    rule = "  ".join("-" * n for n in widths)
    out = [f"Monthly cost, {est.region} list prices ({est.prices_as_of})"]
    if est.workload is not None:
        out += describe(est.workload)
    else:
        free = "free tier applied" if est.callback.free_tier else "no free tier"
        out.append(f"Measured counts, {est.jobs_per_month:,} jobs/month, {free}")
    out += ["", line(header), rule, *(line(r) for r in rows), rule, line(total), ""]
    if est.saving_pct is None:
        out.append("Saving with callback: n/a (the loop costs nothing)")
    else:
        verb = "Saving" if est.saving_usd >= 0 else "Extra cost"
        out.append(f"{verb} with callback: {fmt_pct(abs(est.saving_pct))} (${abs(est.saving_usd):,.4f}/month)")
    if est.break_even is not None:
        out.append(f"Break-even: {est.break_even.message} (searched 0..{est.break_even.max_polls:,})")
    if est.callback.free_tier:
        out.append("Free tiers are subtracted from each design as if it were the account's only workload.")
    out += [f"Warning: {w}" for w in est.warnings]
    return "\n".join(out)


def format_sweep(points: Sequence[SweepPoint]) -> str:
    header = ("polls/job", "callback $", "loop $", "saving")
    rows = [
        (f"{p.polls_per_job:,}", f"{p.callback_usd:,.2f}", f"{p.loop_usd:,.2f}", fmt_pct(p.saving_pct)) for p in points
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(widths[i]) for i, c in enumerate(r)) for r in [header, *rows])
