"""Test doubles for the handler tests: a Step Functions service that counts, a movable clock, and
failures injected into boto3 calls.

The Step Functions double is a real boto3 client (so botocore validates every call's parameters)
whose calls are answered here, the way the service answers them: a token is accepted until its
task ends; a callback ends the task and the execution; a closed token is refused with TaskTimedOut.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from common.clock import utc_now
from common.errors import CAUSE_LIMIT, ERROR_LIMIT, STATE_SIZE_LIMIT_BYTES
from poller.store import DueJob, JobTables

REGION = "us-east-1"
SENDS = ("SendTaskSuccess", "SendTaskFailure")


@functools.cache
def session() -> boto3.Session:
    """One boto3 session for all tests: a client from a fresh session reloads the service model
    (a tenth of a second per client); moto intercepts the calls of every session."""
    return boto3.Session(region_name=REGION)


@functools.cache
def shared_dynamodb() -> Any:
    """A DynamoDB resource for all tests, for the tables' own use; no test registers event handlers on it."""
    return session().resource("dynamodb")


class Crash(BaseException):
    """The poller process dies here (not an Exception: nothing in the poller catches it)."""


@dataclass
class Execution:
    status: str = "RUNNING"
    error: str | None = None
    cause: str | None = None
    output: str | None = None
    redrive_count: int = 0


@dataclass(frozen=True)
class Call:
    operation: str
    params: dict[str, Any]
    accepted: bool  # the service took it (a refused or lost-before-arrival call did nothing)

    @property
    def token(self) -> str | None:
        return self.params.get("taskToken")


@dataclass
class _Fault:
    kind: str  # "refuse" (ClientError, no effect), "lost_reply" (effect, then a read timeout),
    # "unreachable" (no effect, connection error), "crash" (no effect, the process dies),
    # "bug" (no effect, an exception nobody expected)
    code: str = ""
    token: str | None = None
    times: int = 1


@dataclass
class FakeStepFunctions:
    """Executions and task tokens, answered through a real boto3 client (`.client`)."""

    client: Any = field(init=False)
    executions: dict[str, Execution] = field(default_factory=dict)
    open_tokens: dict[str, str] = field(default_factory=dict)  # token -> execution ARN
    calls: list[Call] = field(default_factory=list)
    faults: dict[str, list[_Fault]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = session().client("stepfunctions")
        self.client.meta.events.register("before-call.sfn.*", self._answer)

    # The test's side: tasks that start and executions that end without the poller.
    def start_task(self, execution_arn: str, token: str) -> None:
        """A (possibly retried) task of execution_arn now waits for token; earlier tokens are void."""
        with self.lock:
            self.executions.setdefault(execution_arn, Execution())
            for old in [t for t, arn in self.open_tokens.items() if arn == execution_arn]:
                del self.open_tokens[old]
            self.open_tokens[token] = execution_arn

    def end_execution(self, execution_arn: str, status: str, error: str | None = None) -> None:
        """The execution ends by itself: stopped (ABORTED), timed out, failed in another state."""
        with self.lock:
            runs = self.executions[execution_arn].redrive_count if execution_arn in self.executions else 0
            self.executions[execution_arn] = Execution(status=status, error=error, redrive_count=runs)
            self._close(execution_arn)

    def redrive(self, execution_arn: str, token: str) -> None:
        """The ended execution is redriven: running again, its redrive count one up, and its task
        (re-run from the state that failed) waits for a new token."""
        with self.lock:
            ended = self.executions[execution_arn]
            assert ended.status != "RUNNING", "only an ended execution can be redriven"
            self.executions[execution_arn] = Execution(redrive_count=ended.redrive_count + 1)
            self._close(execution_arn)
            self.open_tokens[token] = execution_arn

    def forget_execution(self, execution_arn: str) -> None:
        """The execution is gone from history: DescribeExecution says ExecutionDoesNotExist."""
        with self.lock:
            self.executions.pop(execution_arn, None)
            self._close(execution_arn)

    def inject(self, operation: str, kind: str, *, code: str = "", token: str | None = None, times: int = 1) -> None:
        """The next `times` calls of operation (for token, when given) fail in the way `kind` says."""
        with self.lock:
            self.faults.setdefault(operation, []).append(_Fault(kind=kind, code=code, token=token, times=times))

    # Counting.
    def count(self, operation: str, *, token: str | None = None, accepted: bool | None = None) -> int:
        with self.lock:
            return sum(
                1
                for c in self.calls
                if c.operation == operation
                and (token is None or c.token == token)
                and (accepted is None or c.accepted == accepted)
            )

    def sends(self, *, token: str | None = None) -> list[Call]:
        """Every SendTaskSuccess/SendTaskFailure call made, accepted or not."""
        with self.lock:
            return [c for c in self.calls if c.operation in SENDS and (token is None or c.token == token)]

    def tokens_called(self) -> set[str]:
        with self.lock:
            return {c.token for c in self.calls if c.token is not None}

    # The service's side.
    def _close(self, execution_arn: str) -> None:
        for token in [t for t, arn in self.open_tokens.items() if arn == execution_arn]:
            del self.open_tokens[token]

    def _take_fault(self, operation: str, token: str | None) -> _Fault | None:
        for fault in self.faults.get(operation, []):
            if fault.times > 0 and (fault.token is None or fault.token == token):
                fault.times -= 1
                return fault
        return None

    def _answer(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        operation = model.name
        request = json.loads(params["body"] or b"{}")
        with self.lock:
            fault = self._take_fault(operation, request.get("taskToken"))
            if fault is not None and fault.kind == "bug":
                self.calls.append(Call(operation, request, accepted=False))
                raise ValueError(f"unexpected bug while calling {operation}")
            if fault is not None and fault.kind == "crash":
                self.calls.append(Call(operation, request, accepted=False))
                raise Crash(f"poller died calling {operation}")
            if fault is not None and fault.kind == "unreachable":
                self.calls.append(Call(operation, request, accepted=False))
                raise EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com")
            if fault is not None and fault.kind == "refuse":
                self.calls.append(Call(operation, request, accepted=False))
                return _error(fault.code)
            status, body = self._serve(operation, request)
            self.calls.append(Call(operation, request, accepted=status == 200))
            if fault is not None and fault.kind == "lost_reply" and status == 200:
                raise ReadTimeoutError(endpoint_url="https://states.us-east-1.amazonaws.com")
        return _error(body["Error"]["Code"], body["Error"]["Message"]) if status != 200 else _ok(body)

    def _serve(self, operation: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if operation == "DescribeExecution":
            execution = self.executions.get(request["executionArn"])
            if execution is None:
                return _failure("ExecutionDoesNotExist", f"Execution Does Not Exist: '{request['executionArn']}'")
            described: dict[str, Any] = {
                "executionArn": request["executionArn"],
                "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:Workflow",
                "status": execution.status,
                "startDate": 0,
                "redriveCount": execution.redrive_count,
            }
            if execution.error is not None:
                described["error"] = execution.error
            return 200, described
        if operation not in (*SENDS, "SendTaskHeartbeat"):
            raise AssertionError(f"the poller is not expected to call {operation}")
        token = request["taskToken"]
        execution_arn = self.open_tokens.get(token)
        if execution_arn is None:
            return _failure("TaskTimedOut", "Task Timed Out: the task has already been closed")
        if operation == "SendTaskHeartbeat":
            return 200, {}
        if operation == "SendTaskSuccess":
            output = request["output"]
            if len(output.encode()) > STATE_SIZE_LIMIT_BYTES:
                return _failure("ValidationException", "output exceeds the 262144-byte limit")
            self.executions[execution_arn] = Execution(
                status="SUCCEEDED", output=output, redrive_count=self.executions[execution_arn].redrive_count
            )
        else:
            if len(request.get("error", "")) > ERROR_LIMIT or len(request.get("cause", "")) > CAUSE_LIMIT:
                return _failure("ValidationException", "error or cause too long")
            self.executions[execution_arn] = Execution(
                status="FAILED",
                error=request.get("error"),
                cause=request.get("cause"),
                redrive_count=self.executions[execution_arn].redrive_count,
            )
        self._close(execution_arn)
        return 200, {}


def _failure(code: str, message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"Error": {"Code": code, "Message": message}}


def _ok(body: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {**body, "ResponseMetadata": {"HTTPStatusCode": 200}}
    return AWSResponse("https://states", 200, HTTPHeaders(), None), parsed


def _error(code: str, message: str = "injected") -> tuple[AWSResponse, dict[str, Any]]:
    status = 500 if code in ("ServiceUnavailable", "InternalFailure") else 400
    parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return AWSResponse("https://states", status, HTTPHeaders(), None), parsed


class Clock:
    """The poller's clock: real time moved on by advance() (records written at real time are due)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def fail_dynamodb_calls(
    client: Any,
    operation: str,
    when: Callable[[dict[str, Any]], bool],
    *,
    times: int | None = None,
    code: str = "InternalServerError",
) -> list[dict[str, Any]]:
    """Make client's calls of operation whose parameters match `when` fail with a ClientError (as
    after botocore's retries), the first `times` of them (all when None). Returns the requests that
    failed, to count them."""
    failed: list[dict[str, Any]] = []

    def maybe_fail(params: dict[str, Any], **_: Any) -> None:
        if when(params) and (times is None or len(failed) < times):
            failed.append(params)
            raise ClientError({"Error": {"Code": code, "Message": "injected failure"}}, operation)

    client.meta.events.register(f"before-parameter-build.dynamodb.{operation}", maybe_fail)
    return failed


def _updates(params: dict[str, Any]) -> list[str]:
    """The update expressions of an UpdateItem or of a TransactWriteItems' updates."""
    if "TransactItems" in params:
        return [item["Update"].get("UpdateExpression", "") for item in params["TransactItems"] if "Update" in item]
    return [params.get("UpdateExpression", "")]


def is_finish(params: dict[str, Any]) -> bool:
    """The poller's write that makes a record final (a TransactWriteItems)."""
    return any("finalDetail" in update for update in _updates(params))


def is_decision(params: dict[str, Any]) -> bool:
    """The poller's write that stores a decision before sending it (a TransactWriteItems)."""
    return any("decision = :decision" in update for update in _updates(params))


def is_release(params: dict[str, Any]) -> bool:
    """The poller's write that gives a job back after a failed step."""
    return params.get("UpdateExpression", "").startswith("SET #due = :due") and not is_finish(params)


def is_claim(params: dict[str, Any]) -> bool:
    return params.get("UpdateExpression", "").startswith("SET claimOwner = :owner, #due = :next")


class SmallPages(JobTables):
    """The poller's tables with a page size small enough that a run reads several pages of due jobs."""

    def due(self, *, shard: str, now_ms: int, page_size: int = 2) -> Iterator[DueJob]:
        return super().due(shard=shard, now_ms=now_ms, page_size=page_size)

    @classmethod
    def of(cls, store: JobTables) -> SmallPages:
        return cls(
            client=store.client, tokens_table=store.tokens_table, poll_table=store.poll_table, due_index=store.due_index
        )
