"""The local cloud's request and invocation counters (`/_localcloud/counters`), which `callbackctl bench`
counts DynamoDB requests and Lambda invocations with. On the shared instance (conftest.py)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

import localcloud
from localcloud.core import counters


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

