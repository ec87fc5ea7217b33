"""The main job: start the local cloud, deploy, run one execution per path, show them finish."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from callbackctl.executions import SCENARIOS, ExecutionResult, format_results, start_executions, watch
from callbackctl.ops import deploy, ensure_local_cloud
from callbackctl.targets import Target


@dataclass(frozen=True)
class Expectation:
    scenario: str
    status: str
    end_state: str
    error: str | None


DEMO_PLAN = (
    Expectation("success", "SUCCEEDED", "JobSucceeded", None),
    Expectation("success", "SUCCEEDED", "JobSucceeded", None),
    Expectation("success", "SUCCEEDED", "JobSucceeded", None),
    Expectation("failure", "FAILED", "JobFailed", "JobFailed"),
    Expectation("max-attempts", "FAILED", "JobFailed", "MaxAttemptsExceeded"),
    Expectation("bad-input", "FAILED", "Error", "InvalidJobInput"),
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


def run_demo(
    target: Target, *, clock_speed: float, timeout: float, deploy_context: dict[str, str] | None = None
) -> int:
    started = time.monotonic()
    _step(1, f"local cloud (clock x{clock_speed:g})" if target.name == "localcloud" else f"target {target.name}")
    ensure_local_cloud(target, clock_speed=clock_speed)
    _step(2, "deploying the stack with the pinned CDK CLI")
    context = {"scheduleClockSpeed": f"{clock_speed:g}"} if target.name == "localcloud" else {}
    info = deploy(target, extra_context={**context, **(deploy_context or {})})
    _step(3, f"starting {len(DEMO_PLAN)} executions: " + ", ".join(e.scenario for e in DEMO_PLAN))
    started_runs = start_executions(target, info, [SCENARIOS[e.scenario] for e in DEMO_PLAN], prefix="demo")
    _step(4, "waiting for the poller (run by the schedule) to resume them")
    results = watch(target, [arn for _, arn in started_runs], timeout=timeout)
    print("\n" + format_results(results))
    problems = check(results)
    print(f"\nDemo finished in {time.monotonic() - started:.0f}s on {target.name}.")
    if problems:
        print("Unexpected endings:\n  " + "\n  ".join(problems))
        return 1
    print(
        "Every execution ended as its scenario should: success resumed with the job result, "
        "job failure and attempts exhausted failed with their errors, bad input failed fast."
    )
    print("Next: `.venv/bin/callbackctl monitor`, `.venv/bin/callbackctl start --count 5`, `make localcloud-stop`.")
    return 0
