"""Step Functions task tokens and StopExecution behave as on AWS (localcloud_ext/stepfunctions.py):
a stopped execution is ABORTED at once, a token whose task ended answers TaskTimedOut, an unknown
one InvalidToken, of concurrent final callbacks exactly one is accepted, a callback sent during the
task's Lambda invoke ends the task when the invoke returns, a retried callback task
gets a new token, and ``$$.Execution.RedriveCount`` resolves (0; RedriveExecution is not emulated).
Each test would pass on AWS and fails on the unpatched LocalStack provider. On the shared instance."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

import localcloud
from localcloud.core import counters
from tests.localcloud.helpers import (
    Clients,
    create_function,
    create_state_machine,
    history,
    request_count,
    status,
    wait_for,
    waiting_token,
)

HANDLER = """
import time


def lambda_handler(event, context):
    time.sleep(event.get("input", {}).get("sleep", 0))
    return {"received": event}
"""
GONE = "Task Timed Out: 'Provided task does not exist anymore'"


@pytest.fixture(scope="module")
def client(shared_client: Clients) -> Clients:
    return shared_client


@pytest.fixture(scope="module")
def function_arn(client: Clients) -> str:
    return create_function(client, "sfn-callback-probe", HANDLER, Timeout=30)


def callback_task(function_arn: str, payload: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A ``lambda:invoke.waitForTaskToken`` task passing ``{token, input, ...payload}``."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {
            "FunctionName": function_arn,
            "Payload": {"token.$": "$$.Task.Token", "input.$": "$", **(payload or {})},
        },
        **fields,
    }


def one_task_machine(client: Clients, function_arn: str, **fields: Any) -> str:
    return create_state_machine(
        client, {"StartAt": "Wait", "States": {"Wait": callback_task(function_arn, End=True, **fields)}}
    )


def start(client: Clients, machine: str, data: dict[str, Any] | None = None) -> str:
    return str(
        client("stepfunctions").start_execution(stateMachineArn=machine, input=json.dumps(data or {}))["executionArn"]
    )


def callbacks(client: Clients, token: str) -> dict[str, Callable[[], Any]]:
    sfn = client("stepfunctions")
    return {
        "SendTaskHeartbeat": lambda: sfn.send_task_heartbeat(taskToken=token),
        "SendTaskSuccess": lambda: sfn.send_task_success(taskToken=token, output='{"late": true}'),
        "SendTaskFailure": lambda: sfn.send_task_failure(taskToken=token, error="Late", cause="too late"),
    }


def error_code(send: Callable[[], Any]) -> str | None:
    """None if the call was accepted, else its error code."""
    try:
        send()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


def assert_token_gone(client: Clients, token: str) -> None:
    sfn = client("stepfunctions")
    for operation, send in callbacks(client, token).items():
        with pytest.raises(ClientError) as raised:
            send()
        assert raised.value.response["Error"]["Code"] == "TaskTimedOut", operation
        assert raised.value.response["Error"]["Message"] == GONE
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.send_task_success(taskToken=token[::-1], output="{}")  # a token it never issued


def ended(client: Clients, execution: str) -> str | None:
    state = status(client, execution)
    return None if state == "RUNNING" else state


@pytest.mark.parametrize("heartbeat", [None, 30], ids=["no-heartbeat", "heartbeat"])
def test_stop_execution_aborts_a_task_waiting_for_its_token(
    client: Clients, function_arn: str, heartbeat: int | None
) -> None:
    fields = {"HeartbeatSeconds": heartbeat} if heartbeat else {}
    execution = start(client, one_task_machine(client, function_arn, **fields))
    token = waiting_token(client, execution)

    started = time.monotonic()
    client("stepfunctions").stop_execution(executionArn=execution, error="Cancelled", cause="by the test")
    elapsed = time.monotonic() - started
    described = client("stepfunctions").describe_execution(executionArn=execution)
    events = history(client, execution)

    assert described["status"] == "ABORTED"  # at once, as on AWS (LocalStack: RUNNING, then FAILED)
    assert elapsed < 3
    assert events[-1]["type"] == "ExecutionAborted"
    assert events[-1]["executionAbortedEventDetails"] == {"error": "Cancelled", "cause": "by the test"}
    assert not {"TaskFailed", "TaskTimedOut", "ExecutionFailed"} & {e["type"] for e in events}
    assert_token_gone(client, token)


def test_stop_during_the_tasks_lambda_invoke_aborts_when_the_invoke_returns(client: Clients, function_arn: str) -> None:
    execution = start(client, one_task_machine(client, function_arn), {"sleep": 1.5})

    def invoking() -> bool:
        types = [e["type"] for e in history(client, execution)]
        return "TaskStarted" in types and "TaskSubmitted" not in types

    wait_for(invoking, 20, "the task's Lambda invoke", interval=0.05)
    client("stepfunctions").stop_execution(executionArn=execution)
    final = wait_for(lambda: ended(client, execution), 10, "the execution to end")
    events = history(client, execution)

    assert final == "ABORTED"  # LocalStack: FAILED (the pruned task raised)
    assert events[-1]["type"] == "ExecutionAborted"
    assert "TaskFailed" not in {e["type"] for e in events}


def scheduled_token(client: Clients, execution: str) -> str | None:
    """The task token once the task is scheduled (its Lambda invoke may still run)."""
    events = [e for e in history(client, execution) if e["type"] == "TaskScheduled"]
    if not events:
        return None
    return str(json.loads(events[-1]["taskScheduledEventDetails"]["parameters"])["Payload"]["token"])


@pytest.mark.parametrize("callback", ["SendTaskSuccess", "SendTaskFailure"])
def test_a_callback_during_the_tasks_lambda_invoke_ends_the_task_when_the_invoke_returns(
    client: Clients, function_arn: str, callback: str
) -> None:
    # A job can finish (and the poller send its callback) before create_job's invoke returns.
    execution = start(client, one_task_machine(client, function_arn, HeartbeatSeconds=30), {"sleep": 1.5})
    token = wait_for(lambda: scheduled_token(client, execution), 20, "the task's token", interval=0.05)
    assert "TaskSubmitted" not in {e["type"] for e in history(client, execution)}  # still invoking

    assert error_code(callbacks(client, token)[callback]) is None
    final = wait_for(lambda: ended(client, execution), 15, "the execution to end")  # LocalStack: 30 s, then FAILED
    events = history(client, execution)

    types = [e["type"] for e in events]
    assert "TaskSubmitted" in types
    assert "TaskTimedOut" not in types
    if callback == "SendTaskSuccess":
        assert final == "SUCCEEDED"
        assert json.loads(events[-1]["executionSucceededEventDetails"]["output"]) == {"late": True}
    else:
        assert final == "FAILED"
        assert events[-1]["executionFailedEventDetails"]["error"] == "Late"
    assert_token_gone(client, token)


def test_a_second_final_callback_is_rejected(client: Clients, function_arn: str) -> None:
    execution = start(client, one_task_machine(client, function_arn))
    token = waiting_token(client, execution)

    client("stepfunctions").send_task_success(taskToken=token, output='{"done": 1}')
    final = wait_for(lambda: ended(client, execution), 10, "the execution to end")

    assert final == "SUCCEEDED"
    assert json.loads(client("stepfunctions").describe_execution(executionArn=execution)["output"]) == {"done": 1}
    assert_token_gone(client, token)  # LocalStack: failure accepted, success/heartbeat InvalidToken


def test_the_token_of_a_failed_task_is_gone(client: Clients, function_arn: str) -> None:
    execution = start(client, one_task_machine(client, function_arn))
    token = waiting_token(client, execution)

    client("stepfunctions").send_task_failure(taskToken=token, error="JobFailed", cause="failed")
    final = wait_for(lambda: ended(client, execution), 10, "the execution to end")

    assert final == "FAILED"
    assert_token_gone(client, token)


def test_the_token_of_a_heartbeat_timeout_is_gone(client: Clients, function_arn: str) -> None:
    execution = start(client, one_task_machine(client, function_arn, HeartbeatSeconds=1))
    token = waiting_token(client, execution)

    final = wait_for(lambda: ended(client, execution), 10, "the heartbeat timeout")

    assert final == "FAILED"
    assert_token_gone(client, token)


def test_the_token_of_a_timed_out_execution_is_gone(client: Clients, function_arn: str) -> None:
    machine = create_state_machine(
        client, {"StartAt": "Wait", "TimeoutSeconds": 1, "States": {"Wait": callback_task(function_arn, End=True)}}
    )
    execution = start(client, machine)
    token = waiting_token(client, execution)

    final = wait_for(lambda: ended(client, execution), 10, "the execution timeout")

    assert final == "TIMED_OUT"
    assert_token_gone(client, token)


def test_the_token_of_a_timed_out_task_is_gone_while_the_execution_goes_on(client: Clients, function_arn: str) -> None:
    task = callback_task(
        function_arn,
        TimeoutSeconds=2,
        HeartbeatSeconds=1,
        Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Pause"}],
        End=True,
    )
    machine = create_state_machine(
        client, {"StartAt": "Wait", "States": {"Wait": task, "Pause": {"Type": "Wait", "Seconds": 30, "End": True}}}
    )
    execution = start(client, machine)
    token = waiting_token(client, execution)
    sfn = client("stepfunctions")
    heartbeats = []
    deadline = time.monotonic() + 15
    while "TaskTimedOut" not in {e["type"] for e in history(client, execution)}:
        assert time.monotonic() < deadline, "the task did not time out"
        heartbeats.append(error_code(lambda: sfn.send_task_heartbeat(taskToken=token)))
        time.sleep(0.4)

    late = error_code(lambda: sfn.send_task_success(taskToken=token, output="{}"))
    state = status(client, execution)
    sfn.stop_execution(executionArn=execution)

    assert heartbeats[0] is None  # the live task took heartbeats
    # LocalStack: accepted (its waiting thread outlives the timeout until the next heartbeat deadline)
    assert late == "TaskTimedOut"
    assert state == "RUNNING"  # in Pause: the execution itself goes on


def test_of_concurrent_final_callbacks_exactly_one_is_accepted(client: Clients, function_arn: str) -> None:
    execution = start(client, one_task_machine(client, function_arn))
    token = waiting_token(client, execution)
    sends = [callbacks(client, token)["SendTaskSuccess" if n % 2 else "SendTaskFailure"] for n in range(16)]
    barrier = threading.Barrier(len(sends))
    codes: list[str | None] = [None] * len(sends)

    def run(n: int) -> None:
        barrier.wait()
        codes[n] = error_code(sends[n])

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = wait_for(lambda: ended(client, execution), 10, "the execution to end")

    winner = codes.index(None)
    assert codes.count(None) == 1  # LocalStack: every one accepted
    assert sorted(c for c in codes if c) == ["TaskTimedOut"] * (len(sends) - 1)
    assert final == ("SUCCEEDED" if winner % 2 else "FAILED")


def test_a_tokens_task_is_found_without_asking_every_execution(
    client: Clients, function_arn: str, shared_cloud: localcloud.Instance
) -> None:
    """SendTask* finds the token's execution in an index (LocalStack asks every execution it ever
    ran: O(executions) per call). Counted: no lookup of this instance's own tokens scans, and an
    unknown token still answers InvalidToken, after the one scan that proves it unknown."""
    machine = one_task_machine(client, function_arn)
    executions = [start(client, machine) for _ in range(3)]
    tokens = [waiting_token(client, e) for e in executions]
    counters(shared_cloud.endpoint, reset=True)

    client("stepfunctions").send_task_success(taskToken=tokens[0], output="{}")
    client("stepfunctions").send_task_failure(taskToken=tokens[1], error="JobFailed", cause="failed")
    client("stepfunctions").send_task_heartbeat(taskToken=tokens[2])
    client("stepfunctions").send_task_success(taskToken=tokens[2], output="{}")
    finals = [wait_for(lambda e=e: ended(client, e), 10, "the execution to end") for e in executions]
    gone = error_code(lambda: client("stepfunctions").send_task_success(taskToken=tokens[0], output="{}"))
    scans_for_known_tokens = counters(shared_cloud.endpoint)["tokenScans"]
    unknown = error_code(lambda: client("stepfunctions").send_task_heartbeat(taskToken="not-a-token-" + tokens[0][:40]))

    assert finals == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert gone == "TaskTimedOut"
    assert scans_for_known_tokens == 0
    assert unknown == "InvalidToken"
    assert counters(shared_cloud.endpoint)["tokenScans"] == 1


def test_a_heartbeat_is_accepted_for_a_task_without_heartbeat_seconds(client: Clients, function_arn: str) -> None:
    execution = start(client, one_task_machine(client, function_arn))
    token = waiting_token(client, execution)

    code = error_code(lambda: client("stepfunctions").send_task_heartbeat(taskToken=token))  # LocalStack: InvalidToken
    client("stepfunctions").send_task_success(taskToken=token, output="{}")

    assert code is None
    assert wait_for(lambda: ended(client, execution), 10, "the execution to end") == "SUCCEEDED"


def test_a_retried_callback_task_gets_a_new_token(client: Clients, function_arn: str) -> None:
    retry = [{"ErrorEquals": ["TryAgain"], "MaxAttempts": 1, "IntervalSeconds": 1}]
    execution = start(client, one_task_machine(client, function_arn, Retry=retry))
    first = waiting_token(client, execution)
    client("stepfunctions").send_task_failure(taskToken=first, error="TryAgain", cause="once more")

    second = wait_for(lambda: (t := waiting_token(client, execution)) != first and t, 20, "the retry's token")
    old = error_code(lambda: client("stepfunctions").send_task_success(taskToken=first, output="{}"))
    client("stepfunctions").send_task_success(taskToken=second, output='{"attempt": 2}')
    final = wait_for(lambda: ended(client, execution), 10, "the execution to end")

    assert old == "TaskTimedOut"  # LocalStack: the retry reuses the first token and does not wait
    assert final == "SUCCEEDED"
    assert json.loads(client("stepfunctions").describe_execution(executionArn=execution)["output"]) == {"attempt": 2}


def test_redrive_count_resolves_to_zero_in_the_context_object(client: Clients, function_arn: str) -> None:
    machine = create_state_machine(
        client,
        {
            "StartAt": "Count",
            "States": {
                "Count": {
                    "Type": "Pass",
                    "Parameters": {"redriveCount.$": "$$.Execution.RedriveCount"},
                    "Next": "Wait",
                },
                "Wait": callback_task(function_arn, {"redriveCount.$": "$$.Execution.RedriveCount"}, End=True),
            },
        },
    )
    execution = start(client, machine)
    token = waiting_token(client, execution)  # LocalStack: States.Runtime, "could not be found in the input"
    submitted = next(e for e in history(client, execution) if e["type"] == "TaskSubmitted")
    client("stepfunctions").send_task_success(taskToken=token, output="{}")

    received = json.loads(submitted["taskSubmittedEventDetails"]["output"])["Payload"]["received"]
    assert received["redriveCount"] == 0
    assert received["input"] == {"redriveCount": 0}  # the Pass state's output
    assert wait_for(lambda: ended(client, execution), 10, "the execution to end") == "SUCCEEDED"


def test_redrive_execution_is_not_emulated(client: Clients, function_arn: str) -> None:
    execution = start(client, one_task_machine(client, function_arn))
    token = waiting_token(client, execution)
    client("stepfunctions").send_task_failure(taskToken=token, error="JobFailed")
    wait_for(lambda: ended(client, execution), 10, "the execution to end")

    with pytest.raises(ClientError) as raised:
        client("stepfunctions").redrive_execution(executionArn=execution)

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert raised.value.response["Error"]["Code"] == "InternalFailure"


def test_tasks_reuse_one_client_per_role_and_give_the_same_results(
    client: Clients, function_arn: str, shared_cloud: localcloud.Instance
) -> None:
    """LocalStack assumes the state machine's role and builds a client for every task it runs; the
    local cloud builds one per role and reuses it (a burst of executions paid for hundreds). Counted
    at the gateway: five executions of two Lambda tasks do not ask STS per task, and each task still
    gets its own input, JSONPaths resolved (their parsed form is cached too)."""
    invoke = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload": {"n.$": "$.n", "name.$": "$$.Execution.Name"}},
        "ResultSelector": {"got.$": "$.Payload.received"},
    }
    machine = create_state_machine(
        client,
        {
            "StartAt": "First",
            "States": {
                "First": {**invoke, "ResultPath": "$.first", "Next": "Second"},
                "Second": {**invoke, "End": True},
            },
        },
    )
    first = start(client, machine, {"n": -1})  # the role's first client is built here
    wait_for(lambda: ended(client, first), 30, "the first execution to end")
    counters(shared_cloud.endpoint, reset=True)
    executions = []
    for n in range(5):  # one after another: the function's warm environment serves them all
        executions.append(start(client, machine, {"n": n}))
        assert wait_for(lambda: ended(client, executions[-1]), 30, "the execution to end") == "SUCCEEDED"

    outputs = [json.loads(client("stepfunctions").describe_execution(executionArn=e)["output"]) for e in executions]
    assert [o["got"]["n"] for o in outputs] == list(range(5))
    assert [o["got"]["name"] for o in outputs] == [e.rsplit(":", 1)[1] for e in executions]
    snapshot = counters(shared_cloud.endpoint)
    invokes = request_count(snapshot, "lambda", "Invoke")
    assume_role = request_count(snapshot, "sts", "AssumeRole")
    # Unpatched: one per task (10). A new execution environment or a schedule firing elsewhere in
    # the shared instance may assume a role of its own.
    assert invokes == 10 and assume_role <= 2
