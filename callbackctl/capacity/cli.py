"""``capacity``: does a workload fit a stage's settings and the account's quotas, and what it costs."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from callbackctl.capacity.model import StageSettings, Status, Workload, capacity
from callbackctl.capacity.monthly import monthly_cost
from callbackctl.capacity.quotas import DEFAULT_REGION, load_quotas
from callbackctl.capacity.report import capacity_dict, format_capacity
from callbackctl.cli.options import JSON, add_command, duration, int_range, positive_float
from callbackctl.cli.output import emit
from callbackctl.errors import ExitCode, UsageError

MAX_WAITING = 100_000_000
MAX_JOB_SECONDS = 365 * 86_400  # a Standard execution lasts at most a year

DETAILS = """\
Per API: SendTask* (a heartbeat per job every heartbeat refresh, one success or failure per job)
against the account quota and the stage's share; status checks (the poll schedule's back-off,
averaged over the job's duration) against the job API's rate; StartExecution and state
transitions; Lambda concurrency (one poller run per shard, create_job, the job API's calls);
Scheduler invocations; DynamoDB writes of the busiest ByDue partition (one shard) and of the
table; whether one shard's due jobs fit a run; status checks per job against maxAttempts. Then
the shards needed and the month's cost (the `cost` command's model and prices).

Headroom = limit / used: WARN under 1.5, FAIL under 1 (exit 1). Quotas are the account defaults
(callbackctl/capacity/quotas.json, with sources); check yours in the Service Quotas console.

example: callbackctl capacity --stage aws --waiting 100000 --job-duration 2h"""


def _context(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. pollerShards=16), got {text!r}")
    return key.strip(), value.strip()


def _job_duration(text: str) -> float:
    seconds = duration(text)
    if seconds > MAX_JOB_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at most 365 days (a Standard execution's limit), got {text}")
    return seconds


def stage_settings(stage: str, context: Sequence[tuple[str, str]]) -> StageSettings:
    """The stage's settings with -c overrides, as stacks/config.py checks them (UsageError if not)."""
    # Importing stacks loads the CDK, whose jsii runtime starts Node only to define the enums the
    # settings use: its Node version banners say nothing about this command, so quiet them.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", ",".join(map(str, range(14, 22, 2))))
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    from stacks.config import ConfigError, load_stage_config

    try:
        config = load_stage_config(stage, dict(context))
    except ConfigError as err:
        raise UsageError(str(err)) from None
    return StageSettings(
        stage=config.stage,
        schedule=config.poll_schedule,
        schedule_interval=config.schedule_interval_seconds,
        poller_timeout=float(config.poller_timeout_seconds),
        poller_concurrency=config.poller_concurrency,
        poller_reserved_concurrency=config.poller_reserved_concurrency,
        send_task_rate=float(config.send_task_rate_per_second),
        job_api_rate=float(config.job_api_rate_per_second),
        max_attempts=config.max_attempts,
        task_timeout=float(config.task_timeout_seconds),
        schedule_rate_minutes=config.schedule_rate_minutes,
    )


def run_capacity(args: argparse.Namespace) -> int:
    settings = stage_settings(args.stage, args.context)
    try:
        workload = Workload(
            waiting=args.waiting,
            job_duration=args.job_duration,
            start_rate=args.start_rate,
            job_latency=args.job_latency,
        )
        result = capacity(settings, workload, load_quotas(args.quota_region))
    except ValueError as err:
        raise UsageError(str(err)) from None
    cost = monthly_cost(result)
    emit(args.json, capacity_dict(result, cost), lambda: format_capacity(result, cost))
    return int(ExitCode.NOT_AS_EXPECTED if result.status is Status.FAIL else ExitCode.OK)


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "capacity",
        "check that a number of waiting jobs fits a stage's settings and the AWS quotas, and price it",
        run_capacity,
        details=DETAILS,
        parents=[JSON],
    )
    p.add_argument("--stage", choices=("local", "aws"), default="local", help="stage settings (default local)")
    p.add_argument(
        "-c",
        "--context",
        type=_context,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a stage setting as with cdk context, e.g. -c pollerShards=16 (repeatable)",
    )
    p.add_argument("--waiting", type=int_range(1, MAX_WAITING), required=True, metavar="N", help="jobs waiting at once")
    p.add_argument(
        "--job-duration",
        type=_job_duration,
        required=True,
        metavar="DURATION",
        help="how long each job runs: 90s, 30m, 2h, 1h30m or seconds",
    )
    p.add_argument(
        "--start-rate",
        type=positive_float,
        metavar="PER_SECOND",
        help="executions started per second (default: waiting / job duration, the steady state)",
    )
    p.add_argument(
        "--job-latency",
        type=positive_float,
        default=0.1,
        metavar="SECONDS",
        help="seconds a poller thread spends on one job: claim, status check, send (default 0.1)",
    )
    p.add_argument(
        "--quota-region",
        default=DEFAULT_REGION,
        metavar="REGION",
        help=f"the Region whose default quotas apply (default {DEFAULT_REGION}; us-east-1, us-west-2 and "
        "eu-west-1 have the higher SendTask*, StartExecution and transition quotas)",
    )
