"""The bench's result: a terminal summary, and the JSON file (camelCase keys, numbers as numbers)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callbackctl.bench.billing import AWS_MAX_TOKEN_CHARS, write_units
from callbackctl.bench.figures import COST_RATIO_MAX, polls_text
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
            f"  {phase['pollsPerJob']:>3} polls/job  callback writes per job: "
            f"token {t['puts'] / jobs:g} put + {t['transactions'] / jobs:g} transactions at "
            f"{write_units(t['recordBytes'])} WRU; poll state {phase['callback']['pollStateTable']['claims'] / jobs:g} "
            f"claims (+ leases {phase['callback']['pollStateTable']['leaseWrites']})"
        )
    return out


def _figure_line(f: Mapping[str, Any]) -> str:
    v = f["value"]
    value = "n/a" if v is None else f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    verdict = "-" if f["passed"] is None else "PASS" if f["passed"] else "FAIL"
    line = f"  {f['name']:<46} {value:>8} {f['unit']:<9} {f['target']:<18} {verdict:<4}  {f['measures']}"
    return line + (f"\n  {'':<90}{f['note']}" if f.get("note") else "")


def _figures(result: Mapping[str, Any]) -> list[str]:
    out = [
        "Figures vs targets (scale phases: real waiting executions, every shard schedule paused):",
        f"  {'figure':<46} {'value':>8} {'unit':<9} {'target':<18} {'':<4}  what it measures",
    ]
    out += [_figure_line(f) for f in result["figures"]]
    failed = [f["name"] for f in result["figures"] if f["passed"] is False]
    out.append(
        f"  {len(failed)} of {sum(f['passed'] is not None for f in result['figures'])} targets failed"
        + (f": {'; '.join(failed)}" if failed else "")
    )
    return out


def _scale_runs(result: Mapping[str, Any]) -> list[str]:
    sc = result["scale"]
    out = [
        f"Timed runs (started the waiting executions in {sc['startSeconds']:.0f} s; "
        f"seeded the backlog in {sc['seedSeconds']:.1f} s):",
        f"  {'run':<22} {'shards':>6} {'due':>6} {'seconds':>8} {'jobs/s':>7} {'items read':>10} "
        f"{'writes/poll':>11} {'sends ok/err':>13}",
    ]
    named = [
        *(("1k pending #" + str(i + 1), r) for i, r in enumerate(sc["pending1k"])),
        ("10k pending", sc["pending10k"]),
        ("10k pending, shards", sc["shards4"]),
        ("successes", sc["success"]),
    ]
    for name, r in named:
        sends, errors = sum(r["sends"].values()), sum(r["sendErrors"].values())
        out.append(
            f"  {name:<22} {r['shards']:>6} {r['due']:>6} {r['seconds']:>8.2f} {r['jobsPerSecond']:>7.1f} "
            f"{r['queryItems']:>10,} {r['writes']['perPoll']:>11.3f} {sends:>7,}/{errors:<5,}"
        )
    f = sc["floor"]
    out.append(f"  {'raw floor':<22} {'-':>6} {f['jobs']:>6} {f['seconds']:>8.2f} {f['jobsPerSecond']:>7.1f}")
    return out


def _priced(result: Mapping[str, Any]) -> list[str]:
    out = [
        "Cost per 1,000 jobs, 2,048-character tokens, poll-state writes (cost model, measured inputs):",
        f"  {'polls/job':>9} {'callback':>9} {'loop':>9} {'ratio':>7} {'@volume ratio':>14} {'floor ratio':>12}",
    ]
    for r in result["pricedCost"]["rows"]:
        out.append(
            f"  {r['pollsPerJob']:>9} {r['callbackMarginal']:>9.4f} {r['loopMarginal']:>9.4f} "
            f"{r['ratioMarginal']:>7.3f} {r['ratioAtVolume']:>14.3f} {r['ratioFloor']:>12.3f}"
        )
    reach = result["pricedCost"]["reach"]
    out.append(
        f"  ratio <= {COST_RATIO_MAX} from {polls_text(reach['fromPolls'], reach)}; the floor (the least any callback "
        f"design spends) from {polls_text(reach['floorFromPolls'], reach)}"
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
    if "crowd" in result:
        c = result["crowd"]
        done = (
            f"Crowd: {c['executions']:,} executions started in {c['startSeconds']:.0f} s, all ended in "
            f"{c['seconds']:.0f} s.\n" + done
        )
    done += f"; plot {result.get('plot', '')}"
    return "\n".join(
        [
            title,
            *_table(result),
            *_cost_notes(result),
            "",
            *_formula_check(result),
            "",
            *_priced(result),
            "",
            *_scale_runs(result),
            "",
            *_figures(result),
            "",
            done,
        ]
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
