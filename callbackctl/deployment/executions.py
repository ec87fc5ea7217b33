"""Start executions of a state machine, wait for them, and read how they ended."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from callbackctl.deployment.targets import Target
from callbackctl.errors import UsageError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.type_defs import HistoryEventTypeDef

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
MAX_NAME_LENGTH = 80
# Step Functions rejects names with white space, brackets, wildcards, these special characters and
# control characters (its API reference, "name").
_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
_EXECUTION_ARN = re.compile(r"arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:\s]+:[^:\s]+")

# ListExecutions' largest page. A page is one request, and LocalStack builds every matching
# execution's list item again for each page it serves: counting 1,000 running executions cost its one
# process 1.2-1.8 s of CPU with the default 100 per page, 0.3 s with 1,000.
LIST_PAGE_SIZE: Final = 1000
# More executions than this to wait for: one RUNNING listing per round, and a DescribeExecution only
# for those that left it (2,000 executions were 2,000 describes a second before).
DESCRIBE_EACH_UP_TO: Final = 50
# A wait pauses at least this many times as long as its last round of requests took, so watching
# takes about a fifth of the service's time at most (on the local cloud a listing of 1,000 running
# executions is ~0.3 s of LocalStack's one process).
ROUND_PAUSE_FACTOR: Final = 4.0

Progress = Callable[[int], None]  # called with how many more items are done


@dataclass(frozen=True, kw_only=True)
class ExecutionResult:
    name: str
    execution_arn: str
    status: str
    end_state: str | None
    error: str | None
    cause: str | None
    output: Any
    seconds: float | None


def check_execution_name(name: str, what: str = "execution name") -> None:
    """Raise UsageError for a name Step Functions would reject, saying which rule it breaks."""
    if not name:
        raise UsageError(f"{what} is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise UsageError(f"{what} {name!r} has {len(name)} characters; Step Functions allows {MAX_NAME_LENGTH}")
    bad = _FORBIDDEN.search(name)
    if bad:
        raise UsageError(
            f"{what} {name!r} contains {bad.group()!r}, which Step Functions rejects: use letters, digits, '-' and '_'"
        )


def check_execution_arn(arn: str) -> str:
    """The ARN, if it has the shape of an execution ARN; a UsageError saying the shape if not."""
    if not _EXECUTION_ARN.fullmatch(arn):
        raise UsageError(
            f"malformed execution ARN {arn!r}: expected "
            "arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME (or give the execution's name)"
        )
    return arn


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of the execution of ``state_machine_arn`` called ``name``."""
    check_execution_name(name)
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def execution_names(prefix: str, count: int) -> list[str]:
    """``count`` names ``PREFIX-BATCH-NNN`` (a random batch id), checked against Step Functions' rules."""
    batch = uuid.uuid4().hex[:6]
    width = max(3, len(str(count - 1)))
    names = [f"{prefix}-{batch}-{index:0{width}d}" for index in range(count)]
    check_execution_name(prefix, "--prefix")
    longest = max((len(name) for name in names), default=0)
    if longest > MAX_NAME_LENGTH:
        room = MAX_NAME_LENGTH - (longest - len(prefix))
        raise UsageError(
            f"--prefix has {len(prefix)} characters; with -BATCH-NNN the names would exceed Step Functions' "
            f"{MAX_NAME_LENGTH}: use at most {room}"
        )
    return names


def start_executions(
    target: Target,
    state_machine_arn: str,
    inputs: Sequence[dict[str, Any]],
    *,
    prefix: str = "run",
    workers: int = 16,
    progress: Progress | None = None,
) -> list[tuple[str, str]]:
    """Start one execution per input, concurrently; return (name, arn) pairs in input order."""
    sfn = target.client("stepfunctions")
    names = execution_names(prefix, len(inputs))

    def start(pair: tuple[str, dict[str, Any]]) -> tuple[str, str]:
        name, execution_input = pair
        arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input))
        if progress:
            progress(1)
        return name, str(arn["executionArn"])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(start, zip(names, inputs, strict=True)))


def running_executions(target: Target, state_machine_arn: str) -> list[str]:
    pages = (
        target.client("stepfunctions")
        .get_paginator("list_executions")
        .paginate(
            stateMachineArn=state_machine_arn,
            statusFilter="RUNNING",
            PaginationConfig={"PageSize": LIST_PAGE_SIZE},
        )
    )
    return [e["executionArn"] for page in pages for e in page["executions"]]


def state_machine_of(execution_arn: str) -> str:
    """The state machine ARN of a (Standard) execution ARN."""
    head, _, _name = execution_arn.rpartition(":")
    return head.replace(":execution:", ":stateMachine:", 1)


def _still_running(target: Target, arns: Sequence[str]) -> set[str]:
    """Those of ``arns`` that the RUNNING listings of their state machines name. A listing may lag (it
    is eventually consistent on AWS): an execution it leaves out is described, never assumed ended."""
    listed: set[str] = set()
    for machine in {state_machine_of(arn) for arn in arns}:
        listed.update(running_executions(target, machine))
    return listed.intersection(arns)


def wait_for(
    target: Target,
    arns: Sequence[str],
    *,
    timeout: float,
    interval: float = 1.0,
    workers: int = 16,
    on_change: Callable[[dict[str, str]], None] | None = None,
) -> dict[str, str]:
    """Poll until every execution has ended or ``timeout`` seconds have passed; return each one's status.

    Statuses still RUNNING in the result mean the wait timed out. ``on_change`` gets the statuses
    after every round.
    """
    sfn = target.client("stepfunctions")
    deadline = time.monotonic() + timeout
    statuses: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            round_began = time.monotonic()
            pending = [arn for arn in arns if statuses.get(arn) not in TERMINAL]
            if len(pending) > DESCRIBE_EACH_UP_TO:
                running = _still_running(target, pending)
                statuses.update(dict.fromkeys(running, "RUNNING"))
                pending = [arn for arn in pending if arn not in running]
            found = pool.map(lambda a: sfn.describe_execution(executionArn=a)["status"], pending)
            statuses.update(zip(pending, found, strict=True))
            if on_change:
                on_change(statuses)
            if all(statuses[arn] in TERMINAL for arn in arns) or time.monotonic() >= deadline:
                return statuses
            # A round that took long (thousands of executions) waits longer, so that watching takes at
            # most a fifth of the service's time.
            pause = max(interval, ROUND_PAUSE_FACTOR * (time.monotonic() - round_began))
            time.sleep(max(0.0, min(pause, deadline - time.monotonic())))


def history(
    target: Target, arn: str, *, newest_first: bool = False, limit: int | None = None
) -> list[HistoryEventTypeDef]:
    """The execution's history events (every page, or the first ``limit``)."""
    kwargs: dict[str, Any] = {"executionArn": arn, "reverseOrder": newest_first}
    if limit is not None:
        kwargs["PaginationConfig"] = {"MaxItems": limit, "PageSize": min(limit, 1000)}
    pages = target.client("stepfunctions").get_paginator("get_execution_history").paginate(**kwargs)
    return [event for page in pages for event in page["events"]]


def end_state(target: Target, arn: str) -> str | None:
    """The name of the last state the execution entered (its end state once it has finished)."""
    for event in history(target, arn, newest_first=True, limit=20):
        details = event.get("stateEnteredEventDetails")
        if details:
            return str(details["name"])
    return None


def describe(target: Target, arn: str) -> ExecutionResult:
    desc = target.client("stepfunctions").describe_execution(executionArn=arn)
    status = desc["status"]
    seconds = None
    if "stopDate" in desc:
        seconds = round((desc["stopDate"] - desc["startDate"]).total_seconds(), 1)
    output = desc.get("output")
    return ExecutionResult(
        name=desc["name"],
        execution_arn=arn,
        status=status,
        end_state=end_state(target, arn) if status in TERMINAL else None,
        error=desc.get("error"),
        cause=desc.get("cause"),
        output=json.loads(output) if output else None,
        seconds=seconds,
    )


def describe_all(target: Target, arns: Iterable[str], *, workers: int = 16) -> list[ExecutionResult]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda a: describe(target, a), arns))


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
