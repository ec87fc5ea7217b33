"""A state machine's execution logs arrive whole and in order, in batches (localcloud_ext/execution_logs.py):
LocalStack sends one PutLogEvents per history event. On the shared instance."""

from __future__ import annotations

import json
import uuid

import localcloud
from localcloud.core import counters
from tests.localcloud.helpers import ROLE, Clients, extension_module, history, request_count, status, wait_for

PASSES = 5
EXECUTIONS = 3


def logged_machine(client: Clients, group: str) -> str:
    states = {f"Step{n}": {"Type": "Pass", "Next": f"Step{n + 1}"} for n in range(PASSES - 1)}
    states[f"Step{PASSES - 1}"] = {"Type": "Pass", "End": True}
    client("logs").create_log_group(logGroupName=group)
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    return str(
        client("stepfunctions").create_state_machine(
            name=f"logged-{uuid.uuid4().hex[:8]}",
            definition=json.dumps({"StartAt": "Step0", "States": states}),
            roleArn=ROLE,
            loggingConfiguration={
                "level": "ALL",
                "includeExecutionData": False,
                "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": arn}}],
            },
        )["stateMachineArn"]
    )


def logged_events(client: Clients, group: str) -> dict[str, list[str]]:
    """Each execution's logged event types, in the order the log streams hold them."""
    by_execution: dict[str, list[str]] = {}
    paginator = client("logs").get_paginator("filter_log_events")
    for page in paginator.paginate(logGroupName=group):
        for event in page["events"]:
            message = json.loads(event["message"])
            by_execution.setdefault(message["execution_arn"], []).append(message["type"])
    return by_execution


def test_every_history_event_is_logged_in_order_with_fewer_requests(
    shared_client: Clients, shared_cloud: localcloud.Instance
) -> None:
    group = f"/test/states/{uuid.uuid4().hex[:8]}"
    machine = logged_machine(shared_client, group)
    counters(shared_cloud.endpoint, reset=True)
    sfn = shared_client("stepfunctions")
    executions = [sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(EXECUTIONS)]
    for execution in executions:
        wait_for(lambda execution=execution: status(shared_client, execution) != "RUNNING", 20, "the execution")
    histories = {e: [event["type"] for event in history(shared_client, e)] for e in executions}
    expected_events = sum(len(types) for types in histories.values())
    assert expected_events == EXECUTIONS * (2 + 2 * PASSES)  # started, entered/exited per state, succeeded

    def complete() -> dict[str, list[str]] | None:
        logged = logged_events(shared_client, group)
        return logged if sum(len(types) for types in logged.values()) >= expected_events else None

    logged = wait_for(complete, 10, "the execution logs", interval=0.25)
    assert logged == histories  # whole, each execution's events in order, nothing twice
    puts = request_count(counters(shared_cloud.endpoint), "logs", "PutLogEvents")
    assert 1 <= puts <= 2 * EXECUTIONS < expected_events  # LocalStack: one per event (36 here)


def test_the_log_batches_respect_put_log_events_limits() -> None:
    module = extension_module("execution_logs")
    batches, max_events, max_bytes = module.batches, module.MAX_EVENTS, module.MAX_BYTES
    small = [{"timestamp": n, "message": "x"} for n in range(max_events + 1)]
    assert [len(b) for b in batches(small)] == [max_events, 1]
    big = [{"timestamp": n, "message": "y" * 300_000} for n in range(7)]
    cut = batches(big)
    assert [len(b) for b in cut] == [3, 3, 1]
    assert all(sum(len(e["message"]) + 26 for e in b) <= max_bytes for b in cut)
    assert [e for b in cut for e in b] == big and batches([]) == []
