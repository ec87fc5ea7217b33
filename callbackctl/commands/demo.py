"""``demo``, the main job: start the local cloud, deploy, run one execution per path, show them finish."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

from callbackctl.cli.inputs import SCENARIOS
from callbackctl.cli.options import TARGET, add_command, positive_float, target_from
from callbackctl.cli.output import progress
from callbackctl.commands.results import format_results, status_note
from callbackctl.deployment.cdk import deploy, ensure_local_cloud
from callbackctl.deployment.executions import TERMINAL, ExecutionResult, describe_all, start_executions, wait_for
from callbackctl.deployment.targets import Target
from callbackctl.errors import ExitCode, TimedOut
from common import end_states
from common.errors import INVALID_JOB_INPUT, JOB_FAILED, MAX_ATTEMPTS_EXCEEDED


@dataclass(frozen=True)
class Expectation:
    scenario: str
    status: str
    end_state: str
    error: str | None


DEMO_PLAN = (
    Expectation("success", "SUCCEEDED", end_states.JOB_SUCCEEDED, None),
    Expectation("success", "SUCCEEDED", end_states.JOB_SUCCEEDED, None),
    Expectation("success", "SUCCEEDED", end_states.JOB_SUCCEEDED, None),
    Expectation("failure", "FAILED", end_states.JOB_FAILED, JOB_FAILED),
    Expectation("max-attempts", "FAILED", end_states.JOB_FAILED, MAX_ATTEMPTS_EXCEEDED),
    Expectation("bad-input", "FAILED", end_states.ERROR, INVALID_JOB_INPUT),
)


def _step(number: int, text: str) -> None:
    print(f"\n[{number}/4] {text}", file=sys.stderr, flush=True)


def check(results: list[ExecutionResult]) -> list[str]:
    """Where an execution did not end as its scenario should have."""
    problems = []
    for expected, result in zip(DEMO_PLAN, results, strict=True):
        got = (result.status, result.end_state, result.error)
        if got != (expected.status, expected.end_state, expected.error):
            problems.append(
                f"{result.name} ({expected.scenario}): expected {expected.status}/{expected.end_state}"
                f"/{expected.error}, got {'/'.join(map(str, got))}"
            )
    return problems


def _run_plan(target: Target, state_machine_arn: str, timeout: float) -> list[ExecutionResult]:
    _step(3, f"starting {len(DEMO_PLAN)} executions: " + ", ".join(e.scenario for e in DEMO_PLAN))
    runs = start_executions(target, state_machine_arn, [SCENARIOS[e.scenario] for e in DEMO_PLAN], prefix="demo")
    _step(4, "waiting for the poller (run by the schedule) to resume them")
    arns = [arn for _, arn in runs]
    with progress() as tasks:
        bar = tasks("executions finished", len(arns))
        statuses = wait_for(
            target, arns, timeout=timeout, on_change=lambda s: bar.set(sum(v in TERMINAL for v in s.values()))
        )
    results = describe_all(target, arns)
    print("\n" + format_results(results))
    if any(status not in TERMINAL for status in statuses.values()):
        raise TimedOut(
            f"not every execution ended within {timeout:g}s ({status_note(statuses)}): "
            "is the local cloud's scheduler firing? `python -m localcloud status`"
        )
    return results


def run_demo(
    target: Target, *, clock_speed: float, timeout: float, deploy_context: dict[str, str] | None = None
) -> int:
    started = time.monotonic()
    _step(1, f"local cloud (clock x{clock_speed:g})" if target.name == "localcloud" else f"target {target.name}")
    ensure_local_cloud(target, clock_speed=clock_speed)
    _step(2, "deploying the stack with the pinned CDK CLI")
    context = {"scheduleClockSpeed": f"{clock_speed:g}"} if target.name == "localcloud" else {}
    info = deploy(target, extra_context={**context, **(deploy_context or {})})
    results = _run_plan(target, info.state_machine_arn, timeout)
    problems = check(results)
    print(f"\nDemo finished in {time.monotonic() - started:.0f}s on {target.name}.")
    if problems:
        print("Unexpected endings:\n  " + "\n  ".join(problems))
        return int(ExitCode.NOT_AS_EXPECTED)
    print(
        "Every execution ended as its scenario should: success resumed with the job result, "
        "job failure and attempts exhausted failed with their errors, bad input failed fast."
    )
    print("Next: `.venv/bin/callbackctl monitor`, `.venv/bin/callbackctl start --count 5`, `make localcloud-stop`.")
    return int(ExitCode.OK)


def _run(args: argparse.Namespace) -> int:
    return run_demo(target_from(args), clock_speed=args.clock_speed, timeout=args.timeout)


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "demo",
        "the main job: start the local cloud, deploy, run every path, check each ended as it should",
        _run,
        details="Exit 1 when an execution did not end in its expected state.",
        parents=[TARGET],
    )
    p.add_argument("--clock-speed", type=positive_float, default=12.0, help="local cloud clock speed-up (default 12)")
    p.add_argument(
        "--timeout", type=positive_float, default=300, help="seconds to wait for the executions (default 300)"
    )
