"""``logs``: one function's log lines (CloudWatch Logs), like `sam logs`: recent ones, or followed."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from callbackctl.cli.options import JSON, TARGET, add_command, duration, target_from
from callbackctl.cli.output import paint, to_json
from callbackctl.deployment.functions import log_events
from callbackctl.deployment.stack import stack_info
from callbackctl.deployment.targets import Target
from callbackctl.errors import UsageError

if TYPE_CHECKING:
    from mypy_boto3_logs.type_defs import FilteredLogEventTypeDef

FOLLOW_INTERVAL = 2.0


def function_name(target: Target, given: str) -> str:
    """The deployed function for a short name (create-job, poller, simulated-api) or a full name."""
    functions = stack_info(target).functions()
    if given in functions:
        return functions[given]
    if given in functions.values():
        return given
    raise UsageError(f"no function {given!r} in the stack: choose one of {', '.join(functions)} (or a full name)")


def _line(event: FilteredLogEventTypeDef) -> str:
    moment = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
    message = str(event["message"]).rstrip("\n")
    style = "red" if "ERROR" in message or "Traceback" in message else "dim" if message.startswith("REPORT") else None
    return f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}  {paint(message, style)}"


def _record(event: FilteredLogEventTypeDef) -> dict[str, Any]:
    moment = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
    return {
        "timestamp": moment,
        "message": str(event["message"]).rstrip("\n"),
        "logStreamName": event.get("logStreamName"),
    }


def _follow(target: Target, name: str, start_ms: int, pattern: str | None, as_json: bool) -> int:
    """Print new events every few seconds until Ctrl+C (which exits 130)."""
    seen: set[str] = set()
    while True:
        for event in log_events(target, name, start_ms=start_ms, pattern=pattern):
            if event["eventId"] in seen:
                continue
            seen.add(event["eventId"])
            start_ms = max(start_ms, int(event["timestamp"]))
            print(to_json(_record(event), indent=None) if as_json else _line(event), flush=True)
        time.sleep(FOLLOW_INTERVAL)


def run_logs(args: argparse.Namespace) -> int:
    target = target_from(args)
    name = function_name(target, args.function)
    start_ms = int((time.time() - args.since) * 1000)
    if args.follow:
        return _follow(target, name, start_ms, args.filter, args.json)
    events = list(log_events(target, name, start_ms=start_ms, pattern=args.filter))
    if args.json:
        print(to_json([_record(e) for e in events]))
    else:
        for event in events:
            print(_line(event))
    return 0


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "logs",
        "show one function's log lines",
        run_logs,
        details="Reads the function's CloudWatch Logs group (/aws/lambda/NAME) on any target. "
        "With --follow it keeps printing new lines until Ctrl+C (with --json, one object per line).",
        parents=[TARGET, JSON],
    )
    p.add_argument("function", metavar="FUNCTION", help="create-job, poller, simulated-api, or a full function name")
    p.add_argument(
        "--since", type=duration, default=600.0, metavar="DURATION", help="how far back: 90s, 10m, 2h (default 10m)"
    )
    p.add_argument("--filter", metavar="PATTERN", help="a CloudWatch Logs filter pattern, e.g. ERROR or '\"jobId\"'")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl+C")
