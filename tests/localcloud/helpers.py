"""Helpers shared by the local cloud's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import importlib
import io
import json
import os
import socket
import sys
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from botocore.config import Config

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
CLOCK_SPEED = 60  # the shared instance's scheduler clock: rate(1 minute) fires every second
Clients = Callable[[str], Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (a local cloud's: LocalStack, the Lambda fork server, workers)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def processes_mentioning(text: str) -> list[int]:
    """Processes (other than this one) whose command line contains ``text``."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return [pid for pid in pids if pid != os.getpid()]


def client_factory(endpoint: str) -> Clients:
    """``make("lambda")`` -> a cached boto3 client of the local cloud at ``endpoint``, no retries."""
    config = Config(max_pool_connections=64, read_timeout=120, retries={"max_attempts": 0})
    cache: dict[str, Any] = {}

    def make(service: str) -> Any:
        if service not in cache:
            cache[service] = boto3.client(
                service,  # type: ignore[call-overload]
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
                config=config,
            )
        return cache[service]

    return make


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def create_function(client: Clients, name: str, source: str, **extra: Any) -> str:
    """Create a python3.13 function from one module's source (handler ``handler.lambda_handler``);
    returns its ARN once active."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", source)
    arn = client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=ROLE,
        Handler="handler.lambda_handler",
        Code={"ZipFile": buffer.getvalue()},
        **extra,
    )["FunctionArn"]
    client("lambda").get_waiter("function_active_v2").wait(FunctionName=name)
    return str(arn)


def create_state_machine(client: Clients, definition: dict[str, Any], prefix: str = "sm") -> str:
    return str(
        client("stepfunctions").create_state_machine(
            name=f"{prefix}-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]
    )


def history(client: Clients, execution_arn: str) -> list[dict[str, Any]]:
    return list(client("stepfunctions").get_execution_history(executionArn=execution_arn)["events"])


def status(client: Clients, execution_arn: str) -> str:
    return str(client("stepfunctions").describe_execution(executionArn=execution_arn)["status"])


def waiting_token(client: Clients, execution_arn: str, timeout: float = 30) -> str:
    """The task token of the execution's latest ``.waitForTaskToken`` task, once that task waits
    (its Lambda invoke returned: TaskSubmitted). The task passes it as ``Payload.token``."""

    def token() -> str | None:
        events = history(client, execution_arn)
        scheduled = [i for i, e in enumerate(events) if e["type"] == "TaskScheduled"]
        if not scheduled or not any(e["type"] == "TaskSubmitted" for e in events[scheduled[-1] :]):
            return None
        parameters = json.loads(events[scheduled[-1]]["taskScheduledEventDetails"]["parameters"])
        return str(parameters["Payload"]["token"])

    return str(wait_for(token, timeout, f"a waiting task in {execution_arn}"))


def request_count(snapshot: dict[str, Any], service: str, operation: str) -> int:
    """Requests of one operation in a ``localcloud.counters`` snapshot, all resources, internal or not."""
    return sum(r["count"] for r in snapshot["requests"] if (r["service"], r["operation"]) == (service, operation))


EXTENSION = Path(__file__).resolve().parents[2] / "localcloud" / "extension" / "localcloud_ext"


def extension_module(name: str) -> ModuleType:
    """One of the extension's modules, ``localcloud_ext.<name>``, imported from its folder: it runs
    inside LocalStack's own virtualenv and is not installed here (its modules import each other)."""
    if str(EXTENSION.parent) not in sys.path:
        sys.path.append(str(EXTENSION.parent))
    return importlib.import_module(f"{EXTENSION.name}.{name}")
