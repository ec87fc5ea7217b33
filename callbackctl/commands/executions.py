"""``start``, ``watch`` and ``history``: run executions, follow them to the end, read one's history."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from callbackctl.cli.inputs import SCENARIOS, scenario_input
from callbackctl.cli.options import JSON, TARGET, add_command, int_range, positive_float, target_from
from callbackctl.cli.output import emit, paint, progress, warn
from callbackctl.commands.results import format_results, outcome, status_note
from callbackctl.deployment import executions as ex
from callbackctl.deployment.stack import stack_info
from callbackctl.deployment.targets import Target
from callbackctl.errors import CommandFailed, UsageError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.type_defs import HistoryEventTypeDef

MAX_COUNT = 10_000
LARGE_COUNT = 500
_STARTS = {
    "localcloud": "the local cloud starts a few executions a second on a small machine",
    "localstack": "LocalStack starts a few executions a second on a small machine",
    "aws": "AWS throttles StartExecution beyond your account's burst quota (throttled starts are retried)",
}


def confirm_if_large(target: Target, count: int, *, yes: bool) -> None:
    """Above LARGE_COUNT, say what the batch costs on this target and go ahead only once confirmed:
    --yes, or an answer on a terminal (a script without --yes starts nothing, as `cleanup --target aws`)."""
    if count <= LARGE_COUNT:
        return
    warn(
        f"{count:,} executions: {_STARTS[target.name]}, and every poller run then checks every waiting job; "
        "this takes minutes, and on a local target some may reach their task timeout (TimedOut)"
    )
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"--count {count:,} is above {LARGE_COUNT}: add --yes to start them anyway")
    print(f"start {count:,} executions? [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CommandFailed("nothing started")


def follow(target: Target, arns: list[str], *, timeout: float, as_json: bool) -> int:
    """Wait for the executions (a progress bar on a terminal), print their results, return the exit code."""
    with progress() as tasks:
        bar = tasks("executions finished", len(arns))
        ex.wait_for(
            target,
            arns,
            timeout=timeout,
            on_change=lambda s: bar.set(sum(1 for v in s.values() if v in ex.TERMINAL), status_note(s)),
        )
    results = ex.describe_all(target, arns)
    emit(as_json, results, lambda: format_results(results))
    return outcome(results, timeout)


def run_start(args: argparse.Namespace) -> int:
    execution_input = scenario_input(args.scenario, args.input, args.input_file)
    ex.execution_names(args.prefix, args.count)  # checks the names before anything is started
    target = target_from(args)
    confirm_if_large(target, args.count, yes=args.yes)
    info = stack_info(target)
    with progress() as tasks:
        runs = ex.start_executions(
            target,
            info.state_machine_arn,
            [execution_input] * args.count,
            prefix=args.prefix,
            progress=tasks("executions started", args.count),
        )
    if args.wait:
        return follow(target, [arn for _, arn in runs], timeout=args.timeout, as_json=args.json)
    emit(args.json, [{"name": n, "executionArn": a} for n, a in runs], "\n".join(a for _, a in runs))
    return 0


def _existing(target: Target, arn: str) -> str:
    try:
        target.client("stepfunctions").describe_execution(executionArn=arn)
    except ClientError as err:
        if err.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
            raise UsageError(
                f"no execution {arn} on {target.name}: check the name or ARN (`callbackctl monitor` lists recent ones)"
            ) from None
        raise
    return arn


def resolve_executions(target: Target, names_or_arns: list[str]) -> list[str]:
    """ARNs for names or ARNs, in order (their shape checked first, then that each exists)."""
    for given in names_or_arns:
        if given.startswith("arn:"):
            ex.check_execution_arn(given)
        else:
            ex.check_execution_name(given)
    named = any(not given.startswith("arn:") for given in names_or_arns)
    machine = stack_info(target).state_machine_arn if named else ""
    arns = [g if g.startswith("arn:") else ex.execution_arn(machine, g) for g in names_or_arns]
    return [_existing(target, arn) for arn in arns]


def describable(arns: list[str]) -> list[str]:
    """The ARNs whose names Step Functions accepts. A local target can hold executions started outside this
    tool with names AWS rejects (a space, over 80 characters); every Describe call refuses those (InvalidArn),
    so following them would end the whole watch. Skip them, with a warning naming one."""
    skipped = []
    for arn in arns:
        try:
            ex.check_execution_name(arn.split(":", 7)[-1])
        except UsageError:
            skipped.append(arn)
    if skipped:
        warn(
            f"skipping {len(skipped)} running execution(s) whose names Step Functions rejects "
            f"(e.g. {skipped[0].split(':', 7)[-1]!r}); `callbackctl cleanup` ends them"
        )
    rejected = set(skipped)
    return [arn for arn in arns if arn not in rejected]


def run_watch(args: argparse.Namespace) -> int:
    target = target_from(args)
    if args.executions:
        arns = resolve_executions(target, args.executions)
    else:
        arns = describable(ex.running_executions(target, stack_info(target).state_machine_arn))
    if not arns:
        emit(args.json, [], "no running executions to watch")
        return 0
    return follow(target, arns, timeout=args.timeout, as_json=args.json)


def _event_detail(event: Mapping[str, Any]) -> str:  # any event type: read its *EventDetails
    details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
    if "name" in details:
        return str(details["name"])
    if "error" in details:
        return f"{details['error']}: {ex.readable_cause(details.get('cause'))}"[:120]
    for key in ("output", "input", "resource"):
        if key in details:
            return f"{key} {details[key]}"[:120]
    return ""


def format_history(name: str, events: Sequence[HistoryEventTypeDef]) -> str:
    lines = [f"History of {name} ({len(events)} events)"]
    for event in events:
        kind = event["type"]
        style = "red" if kind.endswith(("Failed", "TimedOut", "Aborted")) else None
        time = event["timestamp"].strftime("%H:%M:%S.%f")[:-3]
        lines.append(f"  {time}  #{event['id']:<4} {paint(kind.ljust(30), style)} {_event_detail(event)}")
    return "\n".join(lines)


def run_history(args: argparse.Namespace) -> int:
    target = target_from(args)
    (arn,) = resolve_executions(target, [args.execution])
    events = ex.history(target, arn)
    emit(args.json, events, lambda: format_history(arn.rsplit(":", 1)[-1], events))
    return 0


def _add_wait_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--timeout", type=positive_float, default=600, metavar="SECONDS", help=f"{what} (default 600; exit 4 after)"
    )


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "start",
        "start one or many executions",
        run_start,
        details="Input: a --scenario, or JSON with --input (inline, file://PATH, or - for stdin) or --input-file. "
        "Names are PREFIX-BATCH-NNN. With --wait the exit code says whether all of them succeeded.",
        parents=[TARGET, JSON],
    )
    p.add_argument("--count", type=int_range(1, MAX_COUNT), default=1, help=f"how many (1..{MAX_COUNT:,}; default 1)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--scenario", choices=tuple(SCENARIOS), help="a named input (default success)")
    which.add_argument("--input", metavar="JSON", help="execution input: JSON, file://PATH, or - to read stdin")
    which.add_argument("--input-file", metavar="PATH", help="read the execution input from a file (- for stdin)")
    p.add_argument("--prefix", default="run", help="execution name prefix: letters, digits, - and _ (default run)")
    p.add_argument("--wait", action="store_true", help="follow them to the end; exit 1 unless all succeeded")
    p.add_argument("--yes", action="store_true", help=f"start more than {LARGE_COUNT} without asking")
    _add_wait_options(p, "seconds to wait with --wait")

    p = add_command(
        sub,
        "watch",
        "follow executions to the end and print how each ended",
        run_watch,
        details="Exit 0 when all succeeded, 1 when any did not, 4 when some still run after --timeout.",
        parents=[TARGET, JSON],
    )
    p.add_argument("executions", nargs="*", metavar="EXECUTION", help="names or ARNs (default: every running one)")
    _add_wait_options(p, "seconds to wait")

    p = add_command(sub, "history", "show an execution's history events", run_history, parents=[TARGET, JSON])
    p.add_argument("execution", metavar="EXECUTION", help="the execution's name or ARN")
