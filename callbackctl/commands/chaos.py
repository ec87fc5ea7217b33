"""``chaos``: the fault scenarios of callbackctl/chaos.py against a deployed stack, as a table or JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from callbackctl.chaos import SCENARIOS, format_table, results_json, run_scenarios
from callbackctl.cli.options import JSON, TARGET, add_command, positive_int, target_from
from callbackctl.errors import ExitCode

DETAILS = """\
Each scenario starts executions, injects one fault, waits for all of them to end and counts:
  lost            executions that did not reach the end state the scenario expects
  duplicateJobs   external jobs started more than once for one execution
  duplicateSends  jobs whose task token accepted more than one final callback
                  (counted by the local cloud's gateway; n/a on other targets)
Scenarios: burst (N executions at once), api-outage (job API down for twice the heartbeat
timeout), poller-killed (a run killed mid-batch over 200 jobs), stop-execution (stopped while
waiting: record CANCELLED, job cancelled), create-job-timeout (create_job times out after
starting the job), malformed-input (every bad input class ends in Error within 2 s).
The api-outage and create-job-timeout scenarios change the simulated API's environment for a
while and restore it."""


def run_chaos(args: argparse.Namespace) -> int:
    names = args.scenario or list(SCENARIOS)
    progress = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    results = run_scenarios(target_from(args), names, burst=args.burst, progress=progress)
    print(results_json(results) if args.json else format_table(results))
    return ExitCode.OK if all(r.passed for r in results) else ExitCode.NOT_AS_EXPECTED


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "chaos",
        "run fault scenarios and count lost executions, duplicate jobs and duplicate callbacks",
        run_chaos,
        details=DETAILS,
        parents=[TARGET, JSON],
    )
    p.add_argument(
        "--scenario", action="append", choices=SCENARIOS, help="run only this scenario (repeatable; default all)"
    )
    p.add_argument("--burst", type=positive_int, default=500, help="executions in the burst scenario (default 500)")
