"""``monitor``: a one-screen view of the tables, executions and recent history (once, or every N s)."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from callbackctl.cli.options import JSON, TARGET, add_command, int_range, positive_float, target_from
from callbackctl.cli.output import STATUS_STYLE, emit, paint, to_json
from callbackctl.deployment.executions import history
from callbackctl.deployment.stack import StackInfo, stack_info
from callbackctl.deployment.tables import plain, scan_items
from callbackctl.deployment.targets import Target
from common.records import TABLE_KEY, Attr

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.type_defs import ExecutionListItemTypeDef

MAX_RECENT = 1000
MIN_REFRESH = 0.5


def _hms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S")


def _latest_history(
    target: Target, executions: Sequence[ExecutionListItemTypeDef], recent: int
) -> list[dict[str, Any]]:
    if not executions:
        return []
    events = history(target, executions[0]["executionArn"], newest_first=True, limit=recent)
    latest = []
    for event in reversed(events):
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        latest.append(
            {
                "id": event["id"],
                "type": event["type"],
                "state": details.get("name") if details else None,
                "time": _hms(event["timestamp"]),
            }
        )
    return latest


def snapshot(target: Target, info: StackInfo, *, recent: int = 8) -> dict[str, Any]:
    shown = (TABLE_KEY, "#s", Attr.ATTEMPT_COUNT, Attr.MAX_ATTEMPTS, Attr.CREATED_AT, Attr.UPDATED_AT)
    tokens = [
        plain(i)
        for i in scan_items(target, info.task_tokens_table, projection=", ".join(shown), names={"#s": Attr.STATUS})
    ]
    # A pending job's attempts are in its poll state (shard leases there carry no attempts).
    attempts = {
        str(i[TABLE_KEY]["S"]): i[Attr.ATTEMPT_COUNT]
        for i in scan_items(target, info.poll_state_table, projection=f"{TABLE_KEY}, {Attr.ATTEMPT_COUNT}")
        if Attr.ATTEMPT_COUNT in i
    }
    for token in tokens:
        if str(token.get(TABLE_KEY)) in attempts:
            token[Attr.ATTEMPT_COUNT] = plain({"n": attempts[str(token[TABLE_KEY])]})["n"]
    # The simulated API's jobs (simulated_api/handler.py): its own item, not a record.
    jobs = [plain(i) for i in scan_items(target, info.jobs_table, projection="jobId, #s", names={"#s": "status"})]
    sfn = target.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=info.state_machine_arn, maxResults=100)["executions"]
    executions.sort(key=lambda e: e["startDate"], reverse=True)
    schedule = target.client("scheduler").get_schedule(Name=info.poller_schedule)
    tokens.sort(key=lambda t: str(t.get(Attr.UPDATED_AT, "")), reverse=True)
    return {
        "taskTokens": {
            "count": len(tokens),
            "byStatus": dict(Counter(str(t.get(Attr.STATUS)) for t in tokens)),
            "recent": tokens[:recent],
        },
        "jobs": {"count": len(jobs), "byStatus": dict(Counter(str(j.get("status")) for j in jobs))},
        "executions": {
            "shown": len(executions),
            "byStatus": dict(Counter(e["status"] for e in executions)),
            "recent": [
                {"name": e["name"], "status": e["status"], "started": _hms(e["startDate"])} for e in executions[:recent]
            ],
        },
        "latestHistory": {
            "execution": executions[0]["name"] if executions else None,
            "events": _latest_history(target, executions, recent),
        },
        "schedule": {
            "name": info.poller_schedule,
            "state": schedule.get("State"),
            "expression": schedule.get("ScheduleExpression"),
        },
    }


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"


def format_snapshot(snap: dict[str, Any], target: Target) -> str:
    now = datetime.now(UTC).strftime("%H:%M:%S UTC")
    sched, ex = snap["schedule"], snap["executions"]
    lines = [
        paint(f"callbackctl monitor - target {target.name} - {now}", "bold"),
        "",
        f"Poller schedule  {sched['name']}  {sched['expression']}  {sched['state']}",
        f"Task tokens      {snap['taskTokens']['count']} records: {_counts(snap['taskTokens']['byStatus'])}",
        f"Jobs (API)       {snap['jobs']['count']} jobs: {_counts(snap['jobs']['byStatus'])}",
        f"Executions       latest {ex['shown']}: {_counts(ex['byStatus'])}",
        "",
        "Recent token records",
        f"  {'JOB ID':38} {'STATUS':13} {'ATTEMPTS':9} UPDATED",
    ]
    for t in snap["taskTokens"]["recent"]:
        attempts = f"{t.get('attemptCount', 0)}/{t.get('maxAttempts', '?')}"
        lines.append(f"  {t['jobId']:38} {t.get('status', '?'):13} {attempts:9} {t.get('updatedAt', '')}")
    lines += ["", "Recent executions"]
    lines += [
        f"  {e['started']}  {paint(e['status'].ljust(10), STATUS_STYLE.get(e['status']))} {e['name']}"
        for e in ex["recent"]
    ]
    hist = snap["latestHistory"]
    if hist["execution"]:
        lines += ["", f"Latest history ({hist['execution']})"]
        lines += [f"  {ev['time']}  #{ev['id']:<3} {ev['type']:32} {ev['state'] or ''}" for ev in hist["events"]]
    return "\n".join(lines)


def run_monitor(target: Target, *, watch: float | None, as_json: bool, recent: int) -> int:
    """Print the snapshot once, or every ``watch`` seconds until Ctrl+C (exit 130 then)."""
    info = stack_info(target)
    while True:
        snap = snapshot(target, info, recent=recent)
        if as_json and watch:
            print(to_json(snap, indent=None), flush=True)  # JSON Lines: one object per refresh
        else:
            if watch and sys.stdout.isatty():
                print("\033[2J\033[H", end="")  # clear the screen for the next frame
            emit(as_json, snap, format_snapshot(snap, target) if not as_json else "")
            if watch:
                print(f"\n(refreshing every {watch:g}s; Ctrl+C to stop)", flush=True)
        if not watch:
            return 0
        time.sleep(watch)


def _run(args: argparse.Namespace) -> int:
    return run_monitor(target_from(args), watch=args.watch, as_json=args.json, recent=args.recent)


def _refresh(text: str) -> float:
    value = positive_float(text)
    if value < MIN_REFRESH:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_REFRESH:g} seconds, got {text}")
    return value


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "monitor",
        "show the tables, recent executions and the latest history",
        _run,
        details="With --watch it refreshes until Ctrl+C (exit 130); with --json too, one JSON object per line.",
        parents=[TARGET, JSON],
    )
    p.add_argument("--watch", type=_refresh, metavar="SECONDS", help="refresh every SECONDS until Ctrl+C")
    p.add_argument(
        "--recent",
        type=int_range(1, MAX_RECENT),
        default=8,
        metavar="N",
        help=f"how many recent records, executions and events to list (1..{MAX_RECENT}; default 8)",
    )
