"""The cost commands' workload options, and the Workload and Prices they describe."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from callbackctl.cli.options import duration, nonneg_int, positive_float, positive_int
from callbackctl.cost.model import LambdaProfile, SchedulerMode, Workload, polls_for_duration
from callbackctl.cost.prices import Architecture, Prices, default_prices, load_prices
from callbackctl.errors import UsageError

MEMORY_TARGETS = {
    "create_job": ("create_job",),
    "simulated_api": ("api_create", "api_check"),
    "poller": ("poller",),
}
DURATION_TARGETS = ("create_job", "api_create", "api_check", "poller", "poller_per_job")
_D = Workload()


def _keyed(text: str, keys: Iterable[str], what: str) -> tuple[str | None, str]:
    keys = tuple(keys)
    if "=" not in text:
        return None, text
    key, _, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if key not in keys:
        raise argparse.ArgumentTypeError(f"unknown {what} {key!r}; choose from {', '.join(keys)}")
    return key, value


def memory(text: str) -> tuple[str | None, int]:
    key, value = _keyed(text, MEMORY_TARGETS, "function")
    try:
        mb = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MB or FUNCTION=MB, got {text!r}") from None
    if not 128 <= mb <= 10_240:
        raise argparse.ArgumentTypeError(f"Lambda memory must be 128..10240 MB, got {mb}")
    return key, mb


def duration_ms(text: str) -> tuple[str | None, float]:
    key, value = _keyed(text, DURATION_TARGETS, "duration")
    try:
        ms = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MS or NAME=MS, got {text!r}") from None
    if not math.isfinite(ms) or ms < 0:
        raise argparse.ArgumentTypeError(f"duration must be >= 0 ms, got {value}")
    return key, ms


def _add_volume(p: argparse.ArgumentParser, with_polls: bool) -> None:
    p.add_argument(
        "--jobs-per-month",
        type=nonneg_int,
        default=_D.jobs_per_month,
        metavar="N",
        help=f"executions started per month (default {_D.jobs_per_month:,})",
    )
    if not with_polls:
        return
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--polls-per-job",
        type=nonneg_int,
        metavar="N",
        help=f"status checks until a job ends (default {_D.polls_per_job})",
    )
    g.add_argument(
        "--job-duration",
        type=duration,
        metavar="DURATION",
        help="typical job duration, e.g. 90s, 30m, 2h, 1h30m (bare number = seconds); "
        "polls per job = ceil(duration / poll interval)",
    )
    p.add_argument(
        "--poll-interval",
        type=duration,
        metavar="DURATION",
        help="time between status checks, with --job-duration (default: the schedule rate, 1m)",
    )


def _add_lambda(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--memory",
        type=memory,
        action="append",
        default=[],
        metavar="[FUNCTION=]MB",
        help="Lambda memory: MB for every function, or FUNCTION=MB with FUNCTION in "
        f"{', '.join(MEMORY_TARGETS)} (repeatable; default 128)",
    )
    p.add_argument(
        "--duration-ms",
        type=duration_ms,
        action="append",
        default=[],
        metavar="[NAME=]MS",
        help="average billed duration: MS for all, or NAME=MS with NAME in "
        f"{', '.join(DURATION_TARGETS)} (poller = base of one run, poller_per_job = time a run "
        f"adds per job checked; repeatable; defaults create_job={_D.create_job.duration_ms:g}, "
        f"api_create={_D.api_create.duration_ms:g}, api_check={_D.api_check.duration_ms:g}, "
        f"poller={_D.poller.duration_ms:g}, poller_per_job={_D.poller_per_job_ms:g})",
    )
    p.add_argument(
        "--arch",
        choices=[a.value for a in Architecture],
        default=_D.architecture.value,
        help="Lambda architecture (default x86_64)",
    )


def _add_schedule_and_prices(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--free-tier",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="subtract the monthly free tiers, pricing each design as the account's only "
        "workload (default: --no-free-tier)",
    )
    p.add_argument(
        "--scheduler",
        choices=[s.value for s in SchedulerMode],
        default=_D.scheduler.value,
        help="static: one schedule whose runs check every pending job (fixed invocations a month); "
        "per-job: one invocation per poll per job (default static)",
    )
    p.add_argument(
        "--schedule-rate-minutes",
        type=positive_int,
        metavar="N",
        help="static schedule rate(N minutes): 43,200/N runs a month (default: the poll interval "
        "rounded up to minutes, else 1)",
    )
    p.add_argument("--prices", type=Path, metavar="FILE", help="price file (default: prices.json of this package)")


def _add_dynamodb_and_transitions(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--token-item-kb",
        type=positive_float,
        default=_D.token_item_kb,
        metavar="KB",
        help=f"size of the task-token item; each write costs ceil(KB) WRUs (default {_D.token_item_kb:g})",
    )
    p.add_argument(
        "--index-entry-kb",
        type=positive_float,
        default=_D.index_entry_kb,
        metavar="KB",
        help="size of one KEYS_ONLY ByStatus index entry (jobId, status, createdAt); each index write costs "
        f"ceil(KB) WRUs and queries read 0.5 RRU per 4 KB of entries (default {_D.index_entry_kb:g})",
    )
    p.add_argument(
        "--gsi-writes",
        action=argparse.BooleanOptionalAction,
        default=_D.gsi_writes,
        help="count the ByStatus index writes (KEYS_ONLY: 1 when a record is created, 2 when its status "
        "changes; none for other updates); --no-gsi-writes leaves index writes out (default on)",
    )
    for name, what in (
        ("callback_transitions", "state transitions per callback execution"),
        ("loop_fixed_transitions", "loop transitions per execution outside the polls"),
        ("loop_transitions_per_poll", "loop transitions per poll: Wait, CheckStatus, Choice"),
    ):
        default = getattr(_D, name)
        flag = f"--{name.replace('_', '-')}"
        p.add_argument(flag, type=nonneg_int, default=default, metavar="N", help=f"{what} (default {default})")


def add_workload_args(p: argparse.ArgumentParser, *, with_polls: bool) -> None:
    _add_volume(p, with_polls)
    _add_lambda(p)
    _add_schedule_and_prices(p)
    _add_dynamodb_and_transitions(p)


def _profiles(args: argparse.Namespace) -> tuple[dict[str, LambdaProfile], float]:
    """Lambda profiles and the poller's time per job, from --memory and --duration-ms."""
    profiles = {name: getattr(_D, name) for name in ("create_job", "api_create", "api_check", "poller")}
    per_job_ms = _D.poller_per_job_ms
    for key, mb in args.memory:
        for target in MEMORY_TARGETS[key] if key else profiles:
            profiles[target] = replace(profiles[target], memory_mb=mb)
    for key, ms in args.duration_ms:
        for target in (key,) if key else DURATION_TARGETS:
            if target == "poller_per_job":
                per_job_ms = ms
            else:
                profiles[target] = replace(profiles[target], duration_ms=ms)
    return profiles, per_job_ms


def _polls_and_rate(args: argparse.Namespace) -> tuple[int, int]:
    """Polls per job and the schedule rate, from --polls-per-job or --job-duration/--poll-interval."""
    polls, rate = _D.polls_per_job, args.schedule_rate_minutes
    interval, job_duration = getattr(args, "poll_interval", None), getattr(args, "job_duration", None)
    if interval is not None and job_duration is None:
        raise UsageError("argument --poll-interval: only with --job-duration")
    if job_duration is not None:
        if interval is None:
            interval = 60.0 * (rate or 1)
        polls = polls_for_duration(job_duration, interval)
        if rate is None:
            rate = max(1, math.ceil(round(interval / 60, 9)))
    elif getattr(args, "polls_per_job", None) is not None:
        polls = args.polls_per_job
    return polls, rate or 1


def workload_from_args(args: argparse.Namespace) -> Workload:
    profiles, per_job_ms = _profiles(args)
    polls, rate = _polls_and_rate(args)
    try:
        return Workload(
            jobs_per_month=args.jobs_per_month,
            polls_per_job=polls,
            poller_per_job_ms=per_job_ms,
            architecture=Architecture(args.arch),
            free_tier=args.free_tier,
            scheduler=SchedulerMode(args.scheduler),
            schedule_rate_minutes=rate,
            token_item_kb=args.token_item_kb,
            index_entry_kb=args.index_entry_kb,
            gsi_writes=args.gsi_writes,
            callback_transitions=args.callback_transitions,
            loop_fixed_transitions=args.loop_fixed_transitions,
            loop_transitions_per_poll=args.loop_transitions_per_poll,
            create_job=profiles["create_job"],
            api_create=profiles["api_create"],
            api_check=profiles["api_check"],
            poller=profiles["poller"],
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def prices_from_args(args: argparse.Namespace) -> Prices:
    try:
        return load_prices(args.prices) if args.prices else default_prices()
    except (OSError, ValueError) as exc:
        raise UsageError(f"argument --prices: {exc}") from None
