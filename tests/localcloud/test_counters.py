"""The local cloud's request, invocation and callback counters (`/_localcloud/counters`), which
`callbackctl bench` counts DynamoDB requests and Lambda invocations with, and tests count task-token
callbacks with. On the shared instance (conftest.py)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

import localcloud
from common.log import token_fingerprint as lambda_token_fingerprint
from localcloud.core import counters
from tests.localcloud.helpers import create_state_machine, waiting_token


def token_fingerprint(task_token: str) -> str:
    return "tok-" + hashlib.sha256(task_token.encode()).hexdigest()[:12]


ROLE = "arn:aws:iam::000000000000:role/lambda-role"
HANDLER = """
import os
import boto3

dynamodb = boto3.client("dynamodb")


def lambda_handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    dynamodb.put_item(TableName=os.environ["TABLE_NAME"], Item={"pk": {"S": event["pk"]}})
    return {"ok": True}
"""


@pytest.fixture(scope="module")
def cloud(shared_cloud: localcloud.Instance) -> localcloud.Instance:
    return shared_cloud


@pytest.fixture(scope="module")
def client(shared_client: Callable[[str], Any]) -> Callable[[str], Any]:
    return shared_client


@pytest.fixture(scope="module")
def setup(client: Callable[[str], Any]) -> tuple[str, str]:
    table = "counters-table"
    client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("probe.py", HANDLER)
    function = "counters-probe"
    client("lambda").create_function(
        FunctionName=function,
        Runtime="python3.13",
        Role=ROLE,
        Handler="probe.lambda_handler",
        Code={"ZipFile": buffer.getvalue()},
        MemorySize=256,
        Environment={"Variables": {"TABLE_NAME": table}},
    )
    client("lambda").get_waiter("function_active_v2").wait(FunctionName=function)
    return table, function


def _rows(snapshot: dict[str, Any], service: str, operation: str) -> list[dict[str, Any]]:
    return [r for r in snapshot["requests"] if (r["service"], r["operation"]) == (service, operation)]


def test_requests_and_invocations_are_counted_by_resource_and_reset(
    cloud: localcloud.Instance, client: Callable[[str], Any], setup: tuple[str, str]
) -> None:
    table, function = setup
    counters(cloud.endpoint, reset=True)
    ddb, lam = client("dynamodb"), client("lambda")
    for pk in ("a", "b"):
        lam.invoke(FunctionName=function, Payload=json.dumps({"pk": pk}).encode())
    lam.invoke(FunctionName=function, Payload=b'{"fail": true}')
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "1"}},
    )
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET n = :n",
            ConditionExpression="attribute_not_exists(pk)",
            ExpressionAttributeValues={":n": {"N": "2"}},
        )
    found = ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "b"}})
    assert found["Count"] == 1

    snapshot = counters(cloud.endpoint)
    assert [(r["resource"], r["count"], r["errors"]) for r in _rows(snapshot, "dynamodb", "PutItem")] == [(table, 2, 0)]
    assert [(r["count"], r["errors"]) for r in _rows(snapshot, "dynamodb", "UpdateItem")] == [(2, 1)]
    assert [(r["count"], r["items"], r["scanned"]) for r in _rows(snapshot, "dynamodb", "Query")] == [(1, 1, 1)]
    invokes = _rows(snapshot, "lambda", "Invoke")
    assert [(r["resource"], r["count"], r["internal"]) for r in invokes] == [(function, 3, False)]
    probe = snapshot["lambda"][function]
    assert (probe["invocations"], probe["errors"], probe["memoryMb"]) == (3, 1, 256)
    assert probe["billedMs"] >= 3

    cleared = counters(cloud.endpoint, reset=True)
    assert cleared["reset"] is True
    assert cleared["lambda"][function]["invocations"] == 3
    after = counters(cloud.endpoint)
    assert after["lambda"] == {}
    assert _rows(after, "dynamodb", "PutItem") == []


def test_callbacks_are_counted_per_token_fingerprint_and_outcome(
    cloud: localcloud.Instance, client: Callable[[str], Any], setup: tuple[str, str]
) -> None:
    _, function = setup
    sfn = client("stepfunctions")
    arn = client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    machine = create_state_machine(
        client,
        {
            "StartAt": "Wait",
            "States": {
                "Wait": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {
                        "FunctionName": arn,
                        "Payload": {"pk.$": "$$.Execution.Name", "token.$": "$$.Task.Token"},
                    },
                    "HeartbeatSeconds": 60,
                    "End": True,
                }
            },
        },
        prefix="counted",
    )
    tokens = []
    for _ in range(2):
        execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        tokens.append(waiting_token(client, execution))
    counters(cloud.endpoint, reset=True)

    sfn.send_task_heartbeat(taskToken=tokens[0])
    sfn.send_task_heartbeat(taskToken=tokens[0])
    sfn.send_task_success(taskToken=tokens[0], output="{}")
    for send in (
        lambda: sfn.send_task_success(taskToken=tokens[0], output="{}"),
        lambda: sfn.send_task_failure(taskToken=tokens[0], error="Late"),
        lambda: sfn.send_task_failure(taskToken="not-a-token", error="Nope"),
    ):
        with pytest.raises(ClientError):
            send()
    sfn.send_task_failure(taskToken=tokens[1], error="JobFailed", cause="x")

    rows = counters(cloud.endpoint)["callbacks"]
    first, second, unknown = (token_fingerprint(t) for t in (*tokens, "not-a-token"))
    assert first == lambda_token_fingerprint(tokens[0])  # the handlers' log fingerprint
    assert sorted(rows, key=lambda r: (r["token"], r["operation"])) == sorted(
        [
            {"token": first, "operation": "SendTaskHeartbeat", "accepted": 2, "rejected": {}},
            {"token": first, "operation": "SendTaskSuccess", "accepted": 1, "rejected": {"TaskTimedOut": 1}},
            {"token": first, "operation": "SendTaskFailure", "accepted": 0, "rejected": {"TaskTimedOut": 1}},
            {"token": second, "operation": "SendTaskFailure", "accepted": 1, "rejected": {}},
            {"token": unknown, "operation": "SendTaskFailure", "accepted": 0, "rejected": {"InvalidToken": 1}},
        ],
        key=lambda r: (r["token"], r["operation"]),
    )
    assert counters(cloud.endpoint, reset=True)["callbacks"] == rows
    assert counters(cloud.endpoint)["callbacks"] == []
