"""Start executions of the workflow and follow them to the end."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from callbackctl.stackinfo import StackInfo
from callbackctl.targets import Target, UsageError

# Named inputs that exercise each path of the workflow (see docs/design.md for the input schema).
SCENARIOS: dict[str, dict[str, Any]] = {
    "success": {"simulate": {"outcome": "SUCCEED"}},
    "failure": {"simulate": {"outcome": "FAIL", "completionPolls": 2}},
    "max-attempts": {"simulate": {"outcome": "NEVER_FINISH"}, "maxAttempts": 3},
    "never-finish": {"simulate": {"outcome": "NEVER_FINISH"}, "maxAttempts": 14},  # the local stage's limit
    "bad-input": {"simulate": {"outcome": "EXPLODE"}},
}
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass(frozen=True, kw_only=True)
class ExecutionResult:
    name: str
    arn: str
    status: str
    end_state: str | None
    error: str | None
    cause: str | None
    output: Any
    seconds: float | None


def scenario_input(scenario: str | None, raw_input: str | None) -> dict[str, Any]:
    if raw_input is not None:
        try:
            value = json.loads(raw_input)
        except json.JSONDecodeError as err:
            raise UsageError(f"--input is not valid JSON ({err.msg} at character {err.pos})") from None
        if not isinstance(value, dict):
            raise UsageError('--input must be a JSON object, e.g. \'{"simulate": {"outcome": "SUCCEED"}}\'')
        return value
    name = scenario or "success"
    if name not in SCENARIOS:
        raise UsageError(f"unknown scenario {name!r}: choose one of {', '.join(SCENARIOS)}")
    return SCENARIOS[name]


def start_executions(
    target: Target, info: StackInfo, inputs: list[dict[str, Any]], *, prefix: str = "run"
) -> list[tuple[str, str]]:
    """Start one execution per input, concurrently; return (name, arn) pairs in input order."""
    sfn = target.client("stepfunctions")
    batch = uuid.uuid4().hex[:6]

    def start(index_and_input: tuple[int, dict[str, Any]]) -> tuple[str, str]:
        index, execution_input = index_and_input
        name = f"{prefix}-{batch}-{index:03d}"
        response = sfn.start_execution(
            stateMachineArn=info.state_machine_arn, name=name, input=json.dumps(execution_input)
        )
        return name, response["executionArn"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(start, enumerate(inputs)))


def end_state(target: Target, arn: str) -> str | None:
    """The name of the last state the execution entered (its end state once it has finished)."""
    events = target.client("stepfunctions").get_execution_history(executionArn=arn, reverseOrder=True, maxResults=20)
    for event in events["events"]:
        details = event.get("stateEnteredEventDetails")
        if details:
            return str(details["name"])
    return None


def describe(target: Target, arn: str) -> ExecutionResult:
    sfn = target.client("stepfunctions")
    desc = sfn.describe_execution(executionArn=arn)
    status = desc["status"]
    seconds = None
    if "stopDate" in desc:
        seconds = round((desc["stopDate"] - desc["startDate"]).total_seconds(), 1)
    output = desc.get("output")
    return ExecutionResult(
        name=desc["name"],
        arn=arn,
        status=status,
        end_state=end_state(target, arn) if status in TERMINAL else None,
        error=desc.get("error"),
        cause=desc.get("cause"),
        output=json.loads(output) if output else None,
        seconds=seconds,
    )


def watch(
    target: Target,
    arns: list[str],
    *,
    timeout: float = 600,
    interval: float = 2.0,
    progress: bool = True,
) -> list[ExecutionResult]:
    """Wait until every execution has finished, printing progress to stderr; return their results."""
    sfn = target.client("stepfunctions")
    started = time.monotonic()
    statuses: dict[str, str] = {}
    last_line = ""
    with ThreadPoolExecutor(max_workers=16) as pool:
        while True:
            pending = [arn for arn in arns if statuses.get(arn) not in TERMINAL]
            for arn, desc in zip(
                pending, pool.map(lambda a: sfn.describe_execution(executionArn=a), pending), strict=True
            ):
                statuses[arn] = desc["status"]
            counts = Counter(statuses.values())
            done = sum(counts[s] for s in TERMINAL)
            elapsed = time.monotonic() - started
            line = f"  {done}/{len(arns)} finished " + (
                "(" + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) + ")"
            )
            if progress and (line != last_line or int(elapsed) % 15 == 0):
                print(f"{line}  [{elapsed:.0f}s]", file=sys.stderr, flush=True)
                last_line = line
            if done == len(arns):
                break
            if elapsed > timeout:
                raise UsageError(
                    f"{len(arns) - done} execution(s) still running after {timeout:.0f}s; "
                    "see `callbackctl monitor` (is the local cloud's scheduler firing? `python -m localcloud status`)"
                )
            time.sleep(interval)
        return list(pool.map(lambda a: describe(target, a), arns))


def format_results(results: list[ExecutionResult]) -> str:
    rows = [("EXECUTION", "STATUS", "END STATE", "SECONDS", "ERROR / OUTPUT")]
    for r in results:
        if r.error:
            detail = f"{r.error}: {readable_cause(r.cause)}"
        elif isinstance(r.output, dict) and "jobResult" in r.output:
            detail = f"jobResult {json.dumps(r.output['jobResult'])}"[:100]
        else:
            detail = json.dumps(r.output)[:100] if r.output is not None else ""
        rows.append((r.name, r.status, r.end_state or "-", f"{r.seconds}" if r.seconds is not None else "-", detail))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4] for row in rows]
    counts = Counter(f"{r.status}/{r.end_state}" for r in results)
    lines.append("")
    lines.append("Summary: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return "\n".join(lines)


def readable_cause(cause: str | None) -> str:
    """A Lambda error reaches Step Functions as JSON {errorMessage, errorType, stackTrace}: keep the message."""
    if not cause:
        return ""
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return cause
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])
    return cause


def results_json(results: list[ExecutionResult]) -> str:
    return json.dumps([asdict(r) for r in results], indent=2, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)
