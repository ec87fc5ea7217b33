"""The table of executions' results (start --wait, watch, demo) and what they mean for the exit code."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from callbackctl.cli.output import STATUS_STYLE, paint, warn
from callbackctl.deployment.executions import TERMINAL, ExecutionResult, readable_cause
from callbackctl.errors import ExitCode, TimedOut


def _detail(r: ExecutionResult) -> str:
    if r.error:
        return f"{r.error}: {readable_cause(r.cause)}"
    if isinstance(r.output, dict) and "jobResult" in r.output:
        return f"jobResult {json.dumps(r.output['jobResult'])}"[:100]
    return json.dumps(r.output)[:100] if r.output is not None else ""


def format_results(results: Sequence[ExecutionResult]) -> str:
    rows = [("EXECUTION", "STATUS", "END STATE", "SECONDS", "ERROR / OUTPUT")]
    for r in results:
        seconds = f"{r.seconds}" if r.seconds is not None else "-"
        rows.append((r.name, r.status, r.end_state or "-", seconds, _detail(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)]
        if index:
            cells[1] = paint(cells[1], STATUS_STYLE.get(row[1]))
        lines.append("  ".join(cells) + "  " + row[4])
    counts = Counter(f"{r.status}/{r.end_state}" if r.end_state else r.status for r in results)
    lines += ["", "Summary: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))]
    return "\n".join(lines)


def status_note(statuses: dict[str, str]) -> str:
    counts = Counter(statuses.values())
    return ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))


def outcome(results: Sequence[ExecutionResult], timeout: float) -> int:
    """Exit code for executions that should all succeed; a TimedOut error when some still run."""
    running = sum(1 for r in results if r.status not in TERMINAL)
    if running:
        raise TimedOut(
            f"{running} of {len(results)} execution(s) still running after {timeout:g}s; see `callbackctl monitor` "
            "(is the local cloud's scheduler firing? `python -m localcloud status`)"
        )
    failed = sum(1 for r in results if r.status != "SUCCEEDED")
    if failed:
        warn(f"{failed} of {len(results)} execution(s) did not succeed")
        return int(ExitCode.NOT_AS_EXPECTED)
    return int(ExitCode.OK)
