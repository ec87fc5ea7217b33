"""``bench``: measure both designs' cost per job and the poller's throughput on the local cloud."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from callbackctl.bench.run import RESULTS_DIR, run_bench
from callbackctl.bench.settings import QUICK, BenchSettings
from callbackctl.cli.options import add_command, int_range, positive_float
from callbackctl.errors import UsageError

_D = BenchSettings()


def counts_list(maximum: int) -> Any:
    """Comma-separated whole numbers from 1 to ``maximum``."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
        if not values or min(values) < 1 or max(values) > maximum:
            raise argparse.ArgumentTypeError(f"expected numbers from 1 to {maximum:,}, got {text!r}")
        return values

    return parse


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    base = QUICK if args.quick else BenchSettings()
    given = {
        "jobs": args.jobs,
        "polls": args.polls,
        "scale_pending": args.pending,
        "backlog_pending": args.backlog,
        "shards": args.shards,
        "crowd": args.crowd,
        "jobs_per_month": args.jobs_per_month,
        "clock_speed": args.clock_speed,
        "poller_concurrency": args.poller_concurrency,
    }
    try:
        return replace(base, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    run_bench(
        settings_from_args(args),
        port=args.port,
        state_dir=args.state_dir,
        deploy=not args.skip_deploy,
        keep_running=args.keep_running,
        out_dir=Path(args.output_dir),
    )
    return 0


def _add_sizes(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quick", action="store_true", help="a smaller run (3 jobs, polls 1,3, 100/1,000 pending, a crowd of 100)"
    )
    p.add_argument(
        "--jobs", type=int_range(1, 1_000), metavar="N", help=f"jobs per design per setting (default {_D.jobs})"
    )
    p.add_argument(
        "--polls",
        type=counts_list(100),
        metavar="LIST",
        help=f"polls-per-job settings, comma-separated, 1..100 (default {','.join(map(str, _D.polls))})",
    )
    p.add_argument(
        "--pending",
        type=int_range(1, 20_000),
        metavar="N",
        help=f"real waiting executions the scale phases time the poller over (default {_D.scale_pending:,})",
    )
    p.add_argument(
        "--backlog",
        type=int_range(1, 100_000),
        metavar="N",
        help=f"pending jobs (the real ones and a not-due backlog) for the large size (default {_D.backlog_pending:,})",
    )
    p.add_argument(
        "--shards", type=int_range(1, 16), metavar="N", help=f"shards for the sharded run (default {_D.shards})"
    )
    p.add_argument(
        "--crowd",
        type=int_range(0, 20_000),
        metavar="N",
        help=f"executions started at once with the schedules on, none may time out (default {_D.crowd:,}; 0: none)",
    )
    p.add_argument(
        "--jobs-per-month",
        type=int_range(1),
        metavar="N",
        help=f"volume for the fixed-cost column (default {_D.jobs_per_month:,})",
    )


def _add_local_cloud(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--clock-speed", type=positive_float, metavar="X", help=f"scheduler clock speed-up (default {_D.clock_speed:g})"
    )
    p.add_argument(
        "--poller-concurrency",
        type=int_range(1, 64),
        metavar="N",
        help="deploy with this POLLER_CONCURRENCY (default 16)",
    )
    p.add_argument("--port", type=int_range(1, 65_535), help="local cloud port (default 4566 or LOCALCLOUD_PORT)")
    p.add_argument("--state-dir", help="local cloud state dir (default .localcloud/state or LOCALCLOUD_STATE_DIR)")
    p.add_argument("--skip-deploy", action="store_true", help="use the stacks already deployed")
    p.add_argument("--keep-running", action="store_true", help="leave a local cloud started here running")
    p.add_argument("--output-dir", default=str(RESULTS_DIR), help="where to write the JSON (default bench-results/)")


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "bench",
        "measure cost per job (callback vs polling loop) and poller throughput on the local cloud",
        run,
        details="Deploys the callback stack and a Wait -> CheckStatus -> Choice polling-loop baseline on the local "
        "cloud, runs the same jobs through both, counts transitions, Lambda invocations, scheduler invocations and "
        "DynamoDB requests, prices the counts with the cost model, and times the poller on real waiting executions "
        "(1,000 and 10,000 pending, a raw floor, 1 vs 4 shards), and runs 2,000 executions at once. Prints every "
        "figure with its target and PASS/FAIL, writes bench-results/bench-<timestamp>.json (and latest.json) and "
        "bench-results/bench.png. About 18 minutes on 2 cores when the machine keeps up (target: 20).",
    )
    _add_sizes(p)
    _add_local_cloud(p)
