"""Fixtures for handler tests: moto-backed DynamoDB tables shaped like the stack's, and helpers."""

from __future__ import annotations

import io
import json
import traceback
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from common.job_api import JobApiClient
from simulated_api.handler import JobStore
from simulated_api.handler import lambda_handler as simulated_api_handler

REGION = "us-east-1"
TOKENS_TABLE = "TaskTokens"
JOBS_TABLE = "Jobs"
PENDING_INDEX = "ByStatus"


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def ddb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=TOKENS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "jobId", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "createdAt", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": PENDING_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    client.create_table(
        TableName=JOBS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
    )
    return client


@pytest.fixture
def job_store(ddb: Any) -> JobStore:
    return JobStore(table=boto3.resource("dynamodb", region_name=REGION).Table(JOBS_TABLE), polls_min=2, polls_max=3)


class InProcessLambda:
    """Runs the simulated_api handler in this process behind the Lambda Invoke API's shape.

    Errors come back the way Lambda returns them: FunctionError plus {errorType, errorMessage}.
    The real Lambda path is covered by the end-to-end tests on the local cloud.
    """

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.calls: list[dict[str, Any]] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        request = json.loads(Payload)
        self.calls.append(request)
        try:
            body: Any = simulated_api_handler(request, None, store=self.store)
        except Exception as err:  # Lambda reports any exception as a function error
            body = {"errorType": type(err).__name__, "errorMessage": str(err), "stackTrace": traceback.format_exc()}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}


@pytest.fixture
def api(job_store: JobStore) -> JobApiClient:
    return JobApiClient(lambda_client=InProcessLambda(job_store), function_name="simulated-api")
