"""End-to-end fixtures: the local cloud (started and stopped here) and the stack deployed with cdklocal.

Every test in this folder is marked `e2e`. The deployment uses the local stage with shorter
timeouts so timeout paths finish in seconds; the local cloud's clock runs CLOCK_SPEED times faster,
so the stage's rate(1 minute) schedule fires every 60/CLOCK_SPEED seconds.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import localcloud
from callbackctl.deployment import StackInfo, Target, deploy, resolve_target, set_schedule_state
from common.log import token_fingerprint

CLOCK_SPEED = 20  # rate(1 minute) fires every 3 s
# A poller run lasts at most 10 s and a stored decision holds its job 12 s: a heartbeat timeout of
# 60 s leaves a heartbeat refresh of 17 s after two late runs and a lapsed claim (the stage check,
# common/schedule.py). A shorter timeout means a shorter refresh, so more heartbeats than a burst
# on two cores can send. Two shards: the fan-out is exercised.
HEARTBEAT_SECONDS = 60
POLLER_TIMEOUT_SECONDS = 10
CLAIM_SECONDS = 12
TASK_TIMEOUT_SECONDS = 300
SHARDS = 2
DEPLOY_CONTEXT = {
    "scheduleClockSpeed": str(CLOCK_SPEED),
    "heartbeatTimeoutSeconds": str(HEARTBEAT_SECONDS),
    "pollerTimeoutSeconds": str(POLLER_TIMEOUT_SECONDS),
    "claimSeconds": str(CLAIM_SECONDS),
    "taskTimeoutSeconds": str(TASK_TIMEOUT_SECONDS),
    "pollerShards": str(SHARDS),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A local cloud of the tests' own (own state dir, free port): a user's running one is left alone.

    The environment variables point localcloud, callbackctl and the demo at it.
    """
    port = _free_port()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOCALCLOUD_STATE_DIR", str(tmp_path_factory.mktemp("localcloud-e2e")))
        env.setenv("LOCALCLOUD_PORT", str(port))
        env.setenv("LOCALCLOUD_ENDPOINT", f"http://localhost:{port}")
        localcloud.start(clock_speed=CLOCK_SPEED, echo=print)
        try:
            yield resolve_target("localcloud")
        finally:
            localcloud.stop()


@pytest.fixture(scope="session")
def stack(local_cloud: Target) -> StackInfo:
    started = time.monotonic()
    info = deploy(local_cloud, stage="local", extra_context=DEPLOY_CONTEXT)
    print(f"\n[e2e] deployed in {time.monotonic() - started:.1f}s")
    return info


@pytest.fixture
def target(local_cloud: Target, stack: StackInfo) -> Target:
    return local_cloud


@pytest.fixture
def paused_schedule(target: Target, stack: StackInfo) -> Iterator[Callable[[], None]]:
    """Disable the poller's schedules for the test; call the returned function to resume them early."""

    def set_state(state: str) -> None:
        for schedule in stack.poller_schedules:
            set_schedule_state(target, schedule, state)

    set_state("DISABLED")
    # A poller run fired just before the pause may still be on its way: let it pass before the
    # test creates jobs it could otherwise pick up.
    time.sleep(60 / CLOCK_SPEED + 1)
    try:
        yield lambda: set_state("ENABLED")
    finally:
        set_state("ENABLED")


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.5, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def job_id_of(target: Target, arn: str) -> str | None:
    """The job id create_job returned, read from the execution's TaskSubmitted event (None until then)."""
    for event in history(target, arn):
        details = event.get("taskSubmittedEventDetails")
        if details and details.get("output"):
            return str(json.loads(details["output"])["Payload"]["jobId"])
    return None


def token_record(target: Target, stack: StackInfo, job_id: str) -> dict[str, Any] | None:
    item = (
        target.client("dynamodb")
        .get_item(TableName=stack.task_tokens_table, Key={"jobId": {"S": job_id}}, ConsistentRead=True)
        .get("Item")
    )
    return {k: next(iter(v.values())) for k, v in item.items()} if item else None


def history(target: Target, arn: str) -> list[dict[str, Any]]:
    sfn = target.client("stepfunctions")
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events


def start(target: Target, stack: StackInfo, execution_input: dict[str, Any], name: str | None = None) -> str:
    kwargs: dict[str, Any] = {"stateMachineArn": stack.state_machine_arn, "input": json.dumps(execution_input)}
    if name:
        kwargs["name"] = name
    return str(target.client("stepfunctions").start_execution(**kwargs)["executionArn"])


def accepted_final_sends(target: Target, records: list[dict[str, Any] | None]) -> list[int]:
    """For each token record, how many SendTaskSuccess/SendTaskFailure its token accepted, as
    counted by the local cloud's gateway (GET /_localcloud/counters, "callbacks")."""
    assert target.endpoint_url is not None
    with urllib.request.urlopen(f"{target.endpoint_url}/_localcloud/counters", timeout=10) as response:
        rows = json.loads(response.read())["callbacks"]
    accepted: Counter[str] = Counter()
    for row in rows:
        if row["operation"] in ("SendTaskSuccess", "SendTaskFailure"):
            accepted[row["token"]] += int(row["accepted"])
    return [accepted[token_fingerprint(str(record["taskToken"]))] if record else -1 for record in records]
