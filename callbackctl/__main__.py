"""callbackctl: deploy, drive and watch the callback-pattern stack; model its cost.

Every command has --help. Commands that talk to a deployment take --target
(localcloud, localstack or aws) and print JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from callbackctl import bench, cost
from callbackctl.targets import TARGETS, UsageError, resolve_target


def _target_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("target")
    group.add_argument(
        "--target",
        choices=TARGETS,
        default="localcloud",
        help="where the stack runs: the local cloud (default), a LocalStack in Docker, or AWS (your credentials)",
    )
    group.add_argument("--endpoint", help="endpoint URL of a local target (default http://localhost:4566)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")
    return common


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def cmd_deploy(args: argparse.Namespace) -> int:
    from callbackctl.ops import deploy

    info = deploy(resolve_target(args.target, endpoint=args.endpoint), stage=args.stage)
    _print(args, vars(info), "\n".join(f"  {k:24} {v}" for k, v in vars(info).items()))
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    from callbackctl.ops import destroy

    destroy(resolve_target(args.target, endpoint=args.endpoint))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from callbackctl.demo import run_demo

    return run_demo(
        resolve_target(args.target, endpoint=args.endpoint), clock_speed=args.clock_speed, timeout=args.timeout
    )


def cmd_start(args: argparse.Namespace) -> int:
    from callbackctl.executions import format_results, results_json, scenario_input, start_executions, watch
    from callbackctl.stackinfo import stack_info

    target = resolve_target(args.target, endpoint=args.endpoint)
    execution_input = scenario_input(args.scenario, args.input)
    runs = start_executions(target, stack_info(target), [execution_input] * args.count, prefix=args.prefix)
    if not args.wait:
        _print(args, [{"name": n, "executionArn": a} for n, a in runs], "\n".join(a for _, a in runs))
        return 0
    results = watch(target, [a for _, a in runs], timeout=args.timeout)
    print(results_json(results) if args.json else format_results(results))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from callbackctl.executions import format_results, results_json, watch
    from callbackctl.stackinfo import stack_info

    target = resolve_target(args.target, endpoint=args.endpoint)
    arns = list(args.execution_arn)
    if not arns:
        info = stack_info(target)
        pages = (
            target.client("stepfunctions")
            .get_paginator("list_executions")
            .paginate(stateMachineArn=info.state_machine_arn, statusFilter="RUNNING")
        )
        arns = [e["executionArn"] for page in pages for e in page["executions"]]
        if not arns:
            print("no running executions to watch", file=sys.stderr)
            return 0
    results = watch(target, arns, timeout=args.timeout)
    print(results_json(results) if args.json else format_results(results))
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from callbackctl.ops import poll_job

    result = poll_job(resolve_target(args.target, endpoint=args.endpoint), args.job_id)
    s = result["summary"]
    text = (
        f"job {result['jobId']}: {result['statusBefore']} -> {result['statusAfter']} "
        f"(attempts {result['attempts']}); poller: " + ", ".join(f"{k} {v}" for k, v in s.items() if v)
    )
    _print(args, result, text)
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from callbackctl.monitor import run_monitor

    return run_monitor(
        resolve_target(args.target, endpoint=args.endpoint), watch=args.watch, as_json=args.json, recent=args.recent
    )


def cmd_cleanup(args: argparse.Namespace) -> int:
    from callbackctl.ops import cleanup

    target = resolve_target(args.target, endpoint=args.endpoint)
    if target.name == "aws" and not args.yes:
        raise UsageError("cleanup on AWS stops executions and deletes table items: add --yes to confirm")
    result = cleanup(target)
    _print(args, result, ", ".join(f"{k} {v}" for k, v in result.items()))
    return 0


def cmd_chaos(args: argparse.Namespace) -> int:
    from callbackctl.chaos import SCENARIOS, format_table, results_json, run_scenarios

    names = args.scenario or list(SCENARIOS)
    progress = (lambda line: print(line, file=sys.stderr)) if not args.json else (lambda line: None)
    results = run_scenarios(
        resolve_target(args.target, endpoint=args.endpoint), names, burst=args.burst, progress=progress
    )
    print(results_json(results) if args.json else format_table(results))
    return 0 if all(r.passed for r in results) else 1


def cmd_template_summary(args: argparse.Namespace) -> int:
    from callbackctl.ops import template_summary

    print(template_summary(Path(args.out_dir)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from callbackctl.executions import SCENARIOS

    parser = argparse.ArgumentParser(
        prog="callbackctl",
        description="Deploy, run and watch the Step Functions callback-pattern stack, and model its cost.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _target_options()

    p = sub.add_parser("demo", parents=[common], help="the main job: start, deploy, run every path, summarise")
    p.add_argument("--clock-speed", type=float, default=12.0, help="local cloud clock speed-up (default 12)")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the executions (default 300)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("deploy", parents=[common], help="bootstrap if needed and deploy the stack (cdklocal/cdk)")
    p.add_argument("--stage", choices=("local", "aws"), help="config stage (default: local for local targets)")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("destroy", parents=[common], help="delete the stack from the target")
    p.set_defaults(func=cmd_destroy)

    p = sub.add_parser("start", parents=[common], help="start one or many executions")
    p.add_argument("--count", type=_positive_int, default=1, help="how many executions (default 1)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--scenario", choices=tuple(SCENARIOS), help="a named input (default success)")
    which.add_argument("--input", help="execution input as JSON (instead of --scenario)")
    p.add_argument("--prefix", default="run", help="execution name prefix (default run)")
    p.add_argument("--wait", action="store_true", help="watch them to the end and print the results")
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait with --wait (default 600)")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("watch", parents=[common], help="follow executions to the end with progress")
    p.add_argument("execution_arn", nargs="*", help="executions to watch (default: every running one)")
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait (default 600)")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("poll", parents=[common], help="run the poller for one job now")
    p.add_argument("job_id", help="the job id (see `callbackctl monitor`)")
    p.set_defaults(func=cmd_poll)

    p = sub.add_parser("monitor", parents=[common], help="tables, executions and recent history")
    p.add_argument("--watch", type=float, metavar="N", help="refresh every N seconds until Ctrl+C")
    p.add_argument("--recent", type=int, default=8, help="how many recent records/executions to list (default 8)")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("cleanup", parents=[common], help="stop running executions, empty the tables, purge the DLQ")
    p.add_argument("--yes", action="store_true", help="confirm (required for --target aws)")
    p.set_defaults(func=cmd_cleanup)

    from callbackctl.chaos import SCENARIOS as CHAOS_SCENARIOS

    p = sub.add_parser(
        "chaos",
        parents=[common],
        help="fault scenarios (burst, API outage, killed poller, stopped executions, create_job timeout, bad input): "
        "counts lost executions, duplicate jobs and duplicate callbacks; exit 1 if any",
    )
    p.add_argument(
        "--scenario", action="append", choices=CHAOS_SCENARIOS, help="run only this scenario (repeatable; default all)"
    )
    p.add_argument("--burst", type=_positive_int, default=500, help="executions in the burst scenario (default 500)")
    p.set_defaults(func=cmd_chaos)

    p = sub.add_parser("template-summary", help="summarise a synthesized template")
    p.add_argument("out_dir", nargs="?", default="cdk.out", help="cloud assembly folder (default cdk.out)")
    p.set_defaults(func=cmd_template_summary)

    cost.register(sub)
    bench.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        print(f"callbackctl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
