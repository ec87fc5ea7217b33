"""The fault hook `POST /_localcloud/lambda/kill` (`localcloud.kill_lambda`): a function's worker
killed mid-invocation ends that invocation like a crashed Lambda sandbox, and the next invocation
gets a fresh worker. On the shared instance (conftest.py)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import localcloud
from tests.localcloud.helpers import Clients, create_function

HANDLER = """
import os
import time


def lambda_handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid()}
"""


@pytest.fixture(scope="module")
def function(shared_client: Clients) -> str:
    return create_function(shared_client, "fault-probe", HANDLER, Timeout=30)


def _invoke(client: Clients, function: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    response = client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    return response, json.loads(response["Payload"].read())


def test_kill_crashes_the_running_invocation_and_the_next_one_starts_fresh(
    shared_cloud: localcloud.Instance, shared_client: Clients, function: str
) -> None:
    _, warm = _invoke(shared_client, function, {})
    crashed: dict[str, Any] = {}

    def long_invocation() -> None:
        crashed["response"], crashed["body"] = _invoke(shared_client, function, {"sleep": 20})

    thread = threading.Thread(target=long_invocation)
    started = time.monotonic()
    thread.start()
    killed = localcloud.kill_lambda(function, shared_cloud.endpoint, wait_seconds=10)  # an ARN works too
    thread.join(timeout=30)
    elapsed = time.monotonic() - started
    _, after = _invoke(shared_client, function, {})

    assert killed == {"functionName": "fault-probe", "killed": 1, "pids": [warm["pid"]]}
    assert elapsed < 10  # ended by the kill, not by the 20 s handler
    assert crashed["response"]["FunctionError"] == "Unhandled"
    assert crashed["body"]["errorType"] == "Runtime.ExitError"
    assert crashed["body"]["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert not Path(f"/proc/{warm['pid']}").exists()
    assert after["pid"] != warm["pid"]


def test_kill_leaves_idle_workers_alone(
    shared_cloud: localcloud.Instance, shared_client: Clients, function: str
) -> None:
    _, before = _invoke(shared_client, function, {})

    killed = localcloud.kill_lambda("fault-probe", shared_cloud.endpoint)
    _, after = _invoke(shared_client, function, {})

    assert killed == {"functionName": "fault-probe", "killed": 0, "pids": []}
    assert after["pid"] == before["pid"]  # still warm


def test_kill_needs_a_function_name(shared_cloud: localcloud.Instance) -> None:
    request = urllib.request.Request(f"{shared_cloud.endpoint}/_localcloud/lambda/kill", data=b"{}", method="POST")

    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)

    assert raised.value.code == 400
    assert "functionName" in json.loads(raised.value.read())["error"]
