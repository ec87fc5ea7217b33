"""The bench's result: a terminal summary, and the JSON file (camelCase keys, numbers as numbers)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callbackctl.bench.billing import AWS_MAX_TOKEN_CHARS, write_units
from callbackctl.bench.measured import fmt_ratio, num
from callbackctl.cli.output import jsonable

_COLUMNS = ("transitions", "lambdaRequests", "lambdaGbS", "ddbWru", "ddbRru")


def _table(result: Mapping[str, Any]) -> list[str]:
    """Per polls-per-job setting: each design's measured usage per job and cost per 1,000 jobs, and the ratio."""
    volume = result["settings"]["jobsPerMonth"]
    header = (
        "polls/job",
        "design",
        "transitions",
        "Lambda req",
        "GB-s",
        "WRU",
        "RRU",
        "$/1k marginal",
        f"$/1k @{volume:,}/mo",
    )
    rows: list[tuple[str, ...]] = []
    for phase in result["cost"]["phases"]:
        c = phase["cost"]
        for design in ("callback", "loop"):
            per_job = phase[design]["measured"]["perJob"]
            usage = [f"{per_job[k]:.4f}" if k == "lambdaGbS" else num(per_job[k]) for k in _COLUMNS]
            polls = str(phase["pollsPerJob"]) if design == "callback" else ""
            rows.append((polls, design, *usage, f"{c[f'{design}Marginal']:.4f}", f"{c[f'{design}AtVolume']:.4f}"))
        rows.append(
            ("", "ratio cb/loop", "", "", "", "", "", fmt_ratio(c["ratioMarginal"]), fmt_ratio(c["ratioAtVolume"]))
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(cells)).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _cost_notes(result: Mapping[str, Any]) -> list[str]:
    phases, fixed, volume = result["cost"]["phases"], result["cost"]["fixedMonthly"], result["settings"]["jobsPerMonth"]
    aws = ", ".join(f"{p['pollsPerJob']}: {fmt_ratio(p['costWithAwsSizedToken']['ratioMarginal'])}" for p in phases)
    token = phases[0]["callback"]["taskTokenTable"]
    share = max(max(p["gbSecondsSharePct"].values()) for p in phases)
    return [
        f"Per job = what the jobs add (marginal). The static schedule's fixed part, measured: "
        f"{num(fixed['runsPerMonth'])} poller runs/month ({fixed['runsPerMinute']:.2f} per schedule minute), "
        f"${fixed['usd']:.2f}/month, spread over {volume:,} jobs in the @volume column.",
        f"Local task tokens are {token['tokenChars']} characters (token record {token['recordBytes']} bytes); "
        f"with {AWS_MAX_TOKEN_CHARS:,}-character tokens as on AWS the marginal ratio per polls/job would be {aws}.",
        f"GB-s are billed durations on this machine (slower than Lambda); they are at most {share:.0f}% "
        "of a design's marginal cost above.",
    ]


def _formula_check(result: Mapping[str, Any]) -> list[str]:
    out = ["Formula (cost.design_usage, inputs set to the measured memory, durations, item size) vs measurement:"]
    found = [(phase, d) for phase in result["cost"]["phases"] for d in phase["disagreements"]]
    for phase, d in found:
        pct = "formula 0" if d["pct"] is None else f"{d['pct']:+.1f}%"
        out.append(
            f"  {phase['pollsPerJob']:>3} polls/job  {d['design']:8} {d['metric']:21} {d['part']:13} "
            f"formula {num(d['formula']):>9}  measured {num(d['measured']):>9}  ({pct})"
        )
    if not found:
        out.append(f"  they agree within {result['settings']['tolerancePct']:g}% on every metric")
    for phase in result["cost"]["phases"]:
        t, jobs = phase["callback"]["taskTokenTable"], phase["jobs"]
        out.append(
            f"  {phase['pollsPerJob']:>3} polls/job  callback task-token writes per job: "
            f"{t['puts'] / jobs:g} put + {t['updates'] / jobs:g} updates (a claim per poll, a release per "
            f"heartbeat, the final status) at {write_units(t['recordBytes'])} WRU, "
            f"+ {(t['puts'] + 2 * t['finals']) / jobs:g} KEYS_ONLY index writes"
        )
    return out


def _throughput(result: Mapping[str, Any]) -> list[str]:
    t = result["throughput"]
    out = [
        f"Poller throughput (one synchronous run, schedule disabled, poller concurrency {t['pollerConcurrency']}):",
        f"  {'pending':>8}  {'seconds':>8}  {'jobs/s':>8}  {'ms/job':>7}",
    ]
    for size in t["sizes"].values():
        out.append(
            f"  {size['pending']:>8,}  {size['seconds']:>8.2f}  {size['jobsPerSecond']:>8.1f}  {size['msPerJob']:>7.2f}"
        )
    small, large = t["timePerJobRatioSizes"]
    out.append(f"  time per job at {large:,} vs {small:,} pending: {fmt_ratio(t['timePerJobRatio'])} (1.00x = flat)")
    if t.get("marginalMsPerJob") is not None:
        out.append(
            f"  a run = {t['runOverheadSeconds']:.2f} s + {t['marginalMsPerJob']:.1f} ms per pending job "
            f"(fitted through {small:,} and {large:,})"
        )
    f = t["finishedRecords"]
    loaded = f["withFinishedRuns"][-1]
    out.append(
        f"Finished records: {f['pending']} pending with 0 vs {f['finished']:,} finished records in the table: "
        f"{f['baselineSeconds']:.2f} s vs {f['withFinishedSeconds']:.2f} s = {fmt_ratio(f['ratio'])} "
        f"(the index query examined {loaded['queryScanned']} items, table scans {loaded['scans']})"
    )
    return out


def format_report(result: Mapping[str, Any]) -> str:
    """The terminal summary of a bench result (as written to JSON)."""
    s = result["settings"]
    title = (
        f"Cost per 1,000 jobs, measured on the local cloud ({s['jobs']} jobs per design per setting; "
        f"{result['prices']['region']} list prices {result['prices']['asOf']}, no free tier)"
    )
    done = f"Bench took {result['seconds']:.0f} s; every figure in {result['file']}"
    return "\n".join(
        [title, *_table(result), *_cost_notes(result), "", *_formula_check(result), "", *_throughput(result), "", done]
    )


def strip_private(value: Any) -> Any:
    """Drop the keys starting with ``_`` (objects the run keeps for itself)."""
    if isinstance(value, dict):
        return {k: strip_private(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [strip_private(v) for v in value]
    return value


def write_result(result: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Write ``bench-<timestamp>.json`` and ``latest.json``; return the result as written (with ``file``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    written: dict[str, Any] = jsonable({**strip_private(result), "file": str(path)})
    text = json.dumps(written, indent=2, allow_nan=False) + "\n"
    path.write_text(text)
    (out_dir / "latest.json").write_text(text)
    return written
