"""A one-screen view of the tables, executions and recent history (once, or refreshed every N s)."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from callbackctl.stackinfo import StackInfo, stack_info
from callbackctl.targets import Target

_de = TypeDeserializer()


def _scan_all(target: Target, table: str, attributes: str) -> list[dict[str, Any]]:
    """The monitor reads whole tables on purpose (a person looking at a demo); the poller never does."""
    client = target.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": attributes,
        "ExpressionAttributeNames": {"#s": "status"},
    }
    while True:
        page = client.scan(**kwargs)
        items.extend({k: _de.deserialize(v) for k, v in item.items()} for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def snapshot(target: Target, info: StackInfo, *, recent: int = 8) -> dict[str, Any]:
    tokens = _scan_all(target, info.task_tokens_table, "jobId, #s, attemptCount, maxAttempts, createdAt, updatedAt")
    jobs = _scan_all(target, info.jobs_table, "jobId, #s, pollCount, completionPolls")
    sfn = target.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=info.state_machine_arn, maxResults=100)["executions"]
    executions.sort(key=lambda e: e["startDate"], reverse=True)
    history: list[dict[str, Any]] = []
    if executions:
        events = sfn.get_execution_history(
            executionArn=executions[0]["executionArn"], reverseOrder=True, maxResults=recent
        )["events"]
        for event in reversed(events):
            name = (event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}).get("name")
            history.append(
                {
                    "id": event["id"],
                    "type": event["type"],
                    "state": name,
                    "time": event["timestamp"].astimezone(UTC).strftime("%H:%M:%S"),
                }
            )
    schedule = target.client("scheduler").get_schedule(Name=info.poller_schedule)
    tokens.sort(key=lambda t: str(t.get("updatedAt", "")), reverse=True)
    return {
        "taskTokens": {
            "count": len(tokens),
            "byStatus": dict(Counter(str(t.get("status")) for t in tokens)),
            "recent": [_plain(t) for t in tokens[:recent]],
        },
        "jobs": {"count": len(jobs), "byStatus": dict(Counter(str(j.get("status")) for j in jobs))},
        "executions": {
            "shown": len(executions),
            "byStatus": dict(Counter(e["status"] for e in executions)),
            "recent": [
                {
                    "name": e["name"],
                    "status": e["status"],
                    "started": e["startDate"].astimezone(UTC).strftime("%H:%M:%S"),
                }
                for e in executions[:recent]
            ],
        },
        "latestHistory": {"execution": executions[0]["name"] if executions else None, "events": history},
        "schedule": {
            "name": info.poller_schedule,
            "state": schedule.get("State"),
            "expression": schedule.get("ScheduleExpression"),
        },
    }


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: int(v) if hasattr(v, "to_integral_value") else v for k, v in item.items()}


def format_snapshot(snap: dict[str, Any], target: Target) -> str:
    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"

    now = datetime.now(UTC).strftime("%H:%M:%S UTC")
    lines = [f"callbackctl monitor - target {target.name} - {now}", ""]
    sched = snap["schedule"]
    lines.append(f"Poller schedule  {sched['name']}  {sched['expression']}  {sched['state']}")
    lines.append(f"Task tokens      {snap['taskTokens']['count']} records: {counts(snap['taskTokens']['byStatus'])}")
    lines.append(f"Jobs (API)       {snap['jobs']['count']} jobs: {counts(snap['jobs']['byStatus'])}")
    ex = snap["executions"]
    lines.append(f"Executions       latest {ex['shown']}: {counts(ex['byStatus'])}")
    lines.append("")
    lines.append("Recent token records")
    lines.append(f"  {'JOB ID':38} {'STATUS':13} {'ATTEMPTS':9} UPDATED")
    for t in snap["taskTokens"]["recent"]:
        attempts = f"{t.get('attemptCount', 0)}/{t.get('maxAttempts', '?')}"
        lines.append(f"  {t['jobId']:38} {t.get('status', '?'):13} {attempts:9} {t.get('updatedAt', '')}")
    lines.append("")
    lines.append("Recent executions")
    for e in ex["recent"]:
        lines.append(f"  {e['started']}  {e['status']:10} {e['name']}")
    hist = snap["latestHistory"]
    if hist["execution"]:
        lines.append("")
        lines.append(f"Latest history ({hist['execution']})")
        for ev in hist["events"]:
            lines.append(f"  {ev['time']}  #{ev['id']:<3} {ev['type']:32} {ev['state'] or ''}")
    return "\n".join(lines)


def run_monitor(target: Target, *, watch: float | None, as_json: bool, recent: int) -> int:
    info = stack_info(target)
    while True:
        snap = snapshot(target, info, recent=recent)
        if as_json:
            print(json.dumps(snap, default=str))
        else:
            if watch and sys.stdout.isatty():
                print("\033[2J\033[H", end="")  # clear the screen for the next frame
            print(format_snapshot(snap, target), flush=True)
            if watch:
                print(f"\n(refreshing every {watch:g}s; Ctrl+C to stop)", flush=True)
        if not watch:
            return 0
        try:
            time.sleep(watch)
        except KeyboardInterrupt:
            return 0
