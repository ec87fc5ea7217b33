"""``cleanup``: end waiting executions, stop the rest, empty the tables, purge the dead-letter queue."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from callbackctl.cli.options import JSON, TARGET, add_command, target_from
from callbackctl.cli.output import emit, progress, warn
from callbackctl.deployment.cleanup import CleanupResult, cleanup
from callbackctl.deployment.stack import stack_info
from callbackctl.deployment.targets import STACK_NAME, Target
from callbackctl.errors import ExitCode, UsageError


def _where(target: Target) -> str:
    return f"{target.name} ({target.endpoint_url or target.region})"


def _text(result: CleanupResult, target: Target) -> str:
    dlq = (
        f"purged the dead-letter queue ({result.purged_dead_letter_messages} messages)"
        if result.dead_letter_queue == "purged"
        else f"dead-letter queue: {result.dead_letter_queue}"
    )
    return (
        f"{_where(target)}: ended {result.ended_waiting_executions} waiting executions, "
        f"stopped {result.stopped_executions} more; "
        f"deleted {result.deleted_token_records} token records and {result.deleted_jobs} jobs; {dlq}"
    )


def run_cleanup(args: argparse.Namespace) -> int:
    target = target_from(args)
    if target.name == "aws" and not args.yes:
        raise UsageError("cleanup on AWS stops executions and deletes table items: add --yes to confirm")
    info = stack_info(target)
    print(f"cleaning up {STACK_NAME} on {_where(target)}", file=sys.stderr, flush=True)
    with progress() as tasks:
        result = cleanup(target, info, tasks=tasks)
    emit(args.json, result, lambda: _text(result, target))
    for problem in result.not_stopped[:5]:
        warn(f"could not stop {problem}")
    if result.not_stopped:
        warn(f"{len(result.not_stopped)} execution(s) could not be stopped")
        return int(ExitCode.NOT_AS_EXPECTED)
    return 0


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "cleanup",
        "end waiting executions, stop the rest, empty both tables, purge the dead-letter queue",
        run_cleanup,
        details="Waiting executions end through their own task token (SendTaskFailure, error Cleanup). "
        "Exit 1 when an execution could not be stopped.",
        parents=[TARGET, JSON],
    )
    p.add_argument("--yes", action="store_true", help="confirm (required for --target aws)")
