"""The capacity model's output: a text table, and a dict for --json (camelCase, numbers as numbers)."""

from __future__ import annotations

from typing import Any

from callbackctl.capacity.model import Capacity, Check, Status
from callbackctl.cost.prices import DesignCost

_MARK = {Status.OK: "ok", Status.WARN: "WARN", Status.FAIL: "FAIL"}


def _num(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}" if value >= 1 else f"{value:.3g}"


def _room(check: Check) -> str:
    room = check.headroom
    return "-" if room is None else f"{room:,.2f}x"


def format_capacity(c: Capacity, cost: DesignCost) -> str:
    s, w, r = c.settings, c.workload, c.rates
    lines = [
        f"Capacity of stage {s.stage!r}: {w.waiting:,} jobs waiting, {w.job_duration:,.0f} s each, "
        f"{r.starts:,.2f} starts/s",
        f"  per job: {r.polls.polls} status checks, {r.polls.heartbeats} heartbeats "
        f"(refresh {s.schedule.heartbeat_refresh:g} s), then every {r.polls.steady_interval:g} s on average",
        f"  shards: {s.schedule.shards} configured, {c.shards_needed} needed",
        "",
        f"{'check':<34} {'used':>12} {'limit':>12}  {'unit':<14} {'headroom':>9}  status",
    ]
    for check in c.checks:
        lines.append(
            f"{check.name:<34} {_num(check.used):>12} {_num(check.limit):>12}  {check.unit:<14} "
            f"{_room(check):>9}  {_MARK[check.status]}"
        )
    by_service = ", ".join(f"{name} ${usd:,.2f}" for name, usd in cost.by_service().items())
    lines += [
        "",
        f"Monthly cost (callback design, {c.quotas_region} list prices): ${cost.total_usd:,.2f} ({by_service})",
        f"Quotas: account defaults in {c.quotas_region} (sources in callbackctl/capacity/quotas.json, "
        f"checked {c.quotas_checked}); headroom = limit / used: WARN under 1.5, FAIL under 1.",
        f"Result: {_MARK[c.status]}" + _failing(c),
    ]
    return "\n".join(lines)


def _key(service: str) -> str:
    """ "Step Functions" -> "stepFunctions": a JSON key in the house style."""
    joined = service.replace(" ", "")
    return joined[:1].lower() + joined[1:]


def _failing(c: Capacity) -> str:
    bad = [check.name for check in c.checks if check.status is not Status.OK]
    return f" ({', '.join(bad)})" if bad else ""


def capacity_dict(c: Capacity, cost: DesignCost) -> dict[str, Any]:
    s, w, r = c.settings, c.workload, c.rates
    return {
        "stage": s.stage,
        "status": str(c.status),
        "workload": {
            "waiting": w.waiting,
            "jobDurationSeconds": w.job_duration,
            "startsPerSecond": r.starts,
            "jobLatencySeconds": w.job_latency,
        },
        "perJob": {
            "statusChecks": r.polls.polls,
            "heartbeats": r.polls.heartbeats,
            "steadyIntervalSeconds": r.polls.steady_interval,
            "heartbeatRefreshSeconds": s.schedule.heartbeat_refresh,
        },
        "perSecond": {
            "sendTaskHeartbeat": r.heartbeats,
            "sendTaskSuccessOrFailure": r.finals,
            "statusChecks": r.status_checks,
            "startExecution": r.starts,
            "pollStateWrites": r.table_writes,
            "indexWrites": r.index_writes,
        },
        "shards": {"configured": s.schedule.shards, "needed": c.shards_needed},
        "checks": [
            {
                "key": check.key,
                "name": check.name,
                "used": check.used,
                "limit": check.limit,
                "unit": check.unit,
                "headroom": check.headroom,
                "status": str(check.status),
                "source": c.sources.get(check.source, check.source),
                "note": check.note,
            }
            for check in c.checks
        ],
        "monthlyCostUsd": cost.total_usd,
        "monthlyCostByServiceUsd": {_key(name): usd for name, usd in cost.by_service().items()},
        "quotas": {"region": c.quotas_region, "checked": c.quotas_checked},
    }
