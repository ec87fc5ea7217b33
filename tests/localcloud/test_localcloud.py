"""The local cloud itself: the package's shared instance (conftest.py; this module runs last),
driven with boto3 like the stack will be, and stopped at the end with nothing left running.

Provisioning happens on first use (about a minute; then it is reused from .localcloud/).
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import localcloud
from tests.localcloud.helpers import CLOCK_SPEED, Clients, group_members, processes_mentioning

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::000000000000:role/lambda-role"

HANDLER = """
import json
import os
import time

import boto3

dynamodb = boto3.client("dynamodb")  # module scope: created once per worker, as in Lambda


class JobNotFound(Exception):
    pass


def lambda_handler(event, context):
    action = event.get("action")
    if action == "fail":
        raise JobNotFound(f"no job {event.get('jobId')!r}")
    if action == "sleep":  # no DynamoDB call: 50 at once on a busy 2-core machine stay within 2 s
        time.sleep(event["seconds"])
        return {"event": event, "pid": os.getpid()}
    if action == "record":  # what the scheduler sends ends up in a table
        dynamodb.put_item(
            TableName=os.environ["TABLE_NAME"],
            Item={"pk": {"S": context.aws_request_id}, "event": {"S": json.dumps(event)}},
        )
    print("handled", json.dumps(event))
    return {
        "event": event,
        "pid": os.getpid(),
        "function": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remainingMs": context.get_remaining_time_in_millis(),
        "env": {k: os.environ.get(k) for k in (
            "TABLE_NAME", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_ACCESS_KEY_ID",
        )},
        "tables": dynamodb.list_tables()["TableNames"],
    }
"""


def _cli(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localcloud", *args, "--state-dir", str(state_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def cloud(shared_cloud: localcloud.Instance) -> localcloud.Instance:
    return shared_cloud


@pytest.fixture(scope="module")
def client(shared_client: Clients) -> Clients:
    return shared_client


@pytest.fixture(scope="module")
def table(client: Callable[[str], Any]) -> str:
    name = "localcloud-test-table"
    client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByStatus",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client("dynamodb").get_waiter("table_exists").wait(TableName=name)
    return name


@pytest.fixture(scope="module")
def function(client: Callable[[str], Any], table: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("probe/__init__.py", "")
        archive.writestr("probe/handler.py", HANDLER)
    name = "localcloud-probe"
    client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=ROLE,
        Handler="probe.handler.lambda_handler",
        Code={"ZipFile": buffer.getvalue()},
        Timeout=2,
        MemorySize=256,
        Environment={"Variables": {"TABLE_NAME": table}},
    )
    client("lambda").get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def _invoke(client: Callable[[str], Any], function: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any, float]:
    started = time.monotonic()
    response = client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode(), LogType="Tail")
    elapsed = time.monotonic() - started
    return response, json.loads(response["Payload"].read()), elapsed


def test_dynamodb_item_round_trip_and_index_query(client: Callable[[str], Any], table: str) -> None:
    dynamodb = client("dynamodb")
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "job-1"}, "status": {"S": "POLLING"}})

    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": "job-1"}}, ConsistentRead=True)["Item"]
    pending = dynamodb.query(
        TableName=table,
        IndexName="ByStatus",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "POLLING"}},
    )["Items"]

    assert item == {"pk": {"S": "job-1"}, "status": {"S": "POLLING"}}
    assert [i["pk"]["S"] for i in pending] == ["job-1"]


def test_lambda_runs_the_handler_with_its_environment(
    client: Callable[[str], Any], function: str, table: str, cloud: localcloud.Instance
) -> None:
    response, body, _ = _invoke(client, function, {"hello": "world"})

    assert "FunctionError" not in response
    assert body["event"] == {"hello": "world"}
    assert body["function"] == function
    assert body["memory"] == 256
    assert 0 < body["remainingMs"] <= 2000
    assert body["env"] == {
        "TABLE_NAME": table,
        "AWS_ENDPOINT_URL": f"http://localhost:{cloud.port}",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_ACCESS_KEY_ID": "test",
    }
    assert table in body["tables"]  # boto3 inside the function reached the local cloud
    log = base64.b64decode(response["LogResult"]).decode()
    assert 'handled {"hello": "world"}' in log
    assert "REPORT RequestId:" in log


def test_lambda_exception_is_reported_like_lambda(client: Callable[[str], Any], function: str) -> None:
    response, body, _ = _invoke(client, function, {"action": "fail", "jobId": "nope"})

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "JobNotFound"
    assert body["errorMessage"] == "no job 'nope'"
    assert any("raise JobNotFound" in frame for frame in body["stackTrace"])


def test_lambda_timeout_is_enforced_and_the_next_invoke_gets_a_fresh_worker(
    client: Callable[[str], Any], function: str
) -> None:
    _, before, _ = _invoke(client, function, {})

    response, body, elapsed = _invoke(client, function, {"action": "sleep", "seconds": 10})
    _, after, _ = _invoke(client, function, {})

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in body["errorMessage"]
    assert 2 <= elapsed < 5
    assert after["pid"] != before["pid"]


def test_warm_invocations_reuse_the_worker_and_are_fast(client: Callable[[str], Any], function: str) -> None:
    results = [_invoke(client, function, {"n": n}) for n in range(10)]

    pids = {body["pid"] for _, body, _ in results}
    warm = sorted(elapsed for _, _, elapsed in results[1:])
    print(f"[localcloud] warm invoke median {warm[len(warm) // 2] * 1000:.0f} ms")
    assert len(pids) == 1
    assert warm[len(warm) // 2] < 0.5


def test_fifty_concurrent_invocations_run_in_parallel(client: Callable[[str], Any], function: str) -> None:
    started = time.monotonic()

    def sleep_one_second(n: int) -> tuple[dict[str, Any], Any, float]:
        return _invoke(client, function, {"action": "sleep", "seconds": 1, "n": n})

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(sleep_one_second, range(50)))
    elapsed = time.monotonic() - started

    assert [body for response, body, _ in results if "FunctionError" in response] == []
    assert sorted(body["event"]["n"] for _, body, _ in results) == list(range(50))
    # one execution environment each, but on a busy machine a request can arrive after another
    # one ended and reuse its (then idle) environment, as Lambda would (31 of 50 seen with a
    # mutation run and an e2e suite on the machine); serial invocations would share one
    assert len({body["pid"] for _, body, _ in results}) >= 25
    print(f"[localcloud] 50 concurrent 1 s invocations took {elapsed:.1f} s")
    assert elapsed < 30  # serial would be > 50 s


def test_step_functions_sees_the_exception_class_name(client: Callable[[str], Any], function: str) -> None:
    arn = client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": arn,
                "Catch": [{"ErrorEquals": ["JobNotFound"], "ResultPath": "$.error", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    sfn = client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"probe-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"action": "fail", "jobId": "x"}))

    described = _wait_for(
        lambda: (d := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] != "RUNNING" and d,
        timeout=30,
        what="the execution to end",
    )

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["error"]["Error"] == "JobNotFound"


def test_schedules_fire_their_lambda_target_with_their_input(
    client: Callable[[str], Any], function: str, table: str, cloud: localcloud.Instance
) -> None:
    arn = client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    scheduler = client("scheduler")
    common = {"ScheduleExpression": "rate(1 minute)", "FlexibleTimeWindow": {"Mode": "OFF"}}
    scheduler.create_schedule(
        Name="probe-enabled",
        Target={"Arn": arn, "RoleArn": ROLE, "Input": json.dumps({"action": "record", "from": "scheduler"})},
        **common,
    )
    scheduler.create_schedule(
        Name="probe-disabled",
        State="DISABLED",
        Target={"Arn": arn, "RoleArn": ROLE, "Input": json.dumps({"action": "record", "from": "disabled"})},
        **common,
    )

    def recorded() -> list[dict[str, Any]]:
        items = client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
        return [json.loads(i["event"]["S"]) for i in items if "event" in i]

    events = _wait_for(lambda: len(recorded()) >= 3 and recorded(), timeout=30, what="three firings")
    stats = localcloud.scheduler_stats(cloud.endpoint)

    assert {json.dumps(e, sort_keys=True) for e in events} == {json.dumps({"action": "record", "from": "scheduler"})}
    enabled = stats["schedules"]["arn:aws:scheduler:us-east-1:000000000000:schedule/default/probe-enabled"]
    assert enabled["fired"] >= 3 and enabled["failed"] == 0
    assert not any(arn.endswith("/probe-disabled") for arn in stats["schedules"])
    assert stats["clockSpeed"] == CLOCK_SPEED
    scheduler.delete_schedule(Name="probe-enabled")


def test_a_second_start_reports_the_running_instance(cloud: localcloud.Instance) -> None:
    again = localcloud.start(state_dir=cloud.state_dir)
    cli = _cli("start", state_dir=cloud.state_dir)

    assert again.already_running and again.pid == cloud.pid
    assert cli.returncode == 0
    assert "already running" in cli.stdout
    assert localcloud.is_running(state_dir=cloud.state_dir)


def test_a_port_taken_by_another_instance_is_reported(cloud: localcloud.Instance, tmp_path: Path) -> None:
    with pytest.raises(localcloud.PortInUseError, match=f"Port {cloud.port} is already in use by another local cloud"):
        localcloud.start(port=cloud.port, state_dir=tmp_path)
    cli = subprocess.run(
        [sys.executable, "-m", "localcloud", "start", "--port", str(cloud.port), "--state-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert cli.returncode == 1
    assert f"Port {cloud.port} is already in use" in cli.stderr


def test_status_reports_health_and_scheduler_counts(cloud: localcloud.Instance) -> None:
    info = localcloud.status(state_dir=cloud.state_dir)
    cli = _cli("status", state_dir=cloud.state_dir)

    assert info["running"] and info["healthy"]
    assert info["services"]["lambda"] in ("running", "available")
    assert cli.returncode == 0
    assert cloud.endpoint in cli.stdout


def test_stop_ends_every_process_it_started(cloud: localcloud.Instance) -> None:
    workers_before = group_members(cloud.pid)
    cli = _cli("stop", state_dir=cloud.state_dir)
    status = _cli("status", state_dir=cloud.state_dir)

    assert len(workers_before) > 1  # LocalStack plus the Lambda fork server and workers
    assert cli.returncode == 0 and "stopped" in cli.stdout
    assert group_members(cloud.pid) == []
    assert processes_mentioning(str(cloud.state_dir)) == []  # DynamoDB Local's JVM too
    assert status.returncode == 3
    assert _cli("stop", state_dir=cloud.state_dir).stdout.strip() == "The local cloud is not running."
