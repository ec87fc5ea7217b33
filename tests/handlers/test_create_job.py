"""create_job: input validation, the job started on the API, the token record written."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from common.job_api import JobApiClient
from create_job.handler import JobCreator, lambda_handler
from create_job.validation import InvalidJobInput, parse_job_request

from .conftest import REGION, TOKENS_TABLE

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:Workflow:run-1"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAA" + "x" * 600


@pytest.fixture
def creator(ddb: Any, api: JobApiClient) -> JobCreator:
    table = boto3.resource("dynamodb", region_name=REGION).Table(TOKENS_TABLE)
    return JobCreator(table=table, api=api, default_max_attempts=10, record_ttl_days=7)


def _event(execution_input: Any) -> dict[str, Any]:
    return {"taskToken": TOKEN, "executionId": EXECUTION, "input": execution_input}


def test_stores_the_token_record_for_the_poller(creator: JobCreator, ddb: Any) -> None:
    before = int(time.time())
    out = lambda_handler(_event({"jobName": "nightly", "maxAttempts": 4}), None, creator=creator)
    assert out["status"] == "POLLING"
    item = boto3.resource("dynamodb", region_name=REGION).Table(TOKENS_TABLE).get_item(Key={"jobId": out["jobId"]})
    record = item["Item"]
    assert record["taskToken"] == TOKEN
    assert record["executionArn"] == EXECUTION
    assert record["status"] == "POLLING"
    assert record["attemptCount"] == 0
    assert record["maxAttempts"] == 4
    assert record["jobName"] == "nightly"
    assert record["createdAt"].endswith("Z")
    # TTL: about 7 days ahead, in epoch seconds.
    assert before + 7 * 86400 - 5 <= int(record["expiresAt"]) <= before + 7 * 86400 + 5


def test_default_max_attempts_comes_from_config(creator: JobCreator) -> None:
    out = creator.handle(_event({}))
    item = creator.table.get_item(Key={"jobId": out["jobId"]})["Item"]
    assert item["maxAttempts"] == 10


def test_passes_simulation_settings_and_payload_to_the_api(creator: JobCreator, api: JobApiClient) -> None:
    creator.handle(_event({"simulate": {"outcome": "FAIL", "completionPolls": 2}, "payload": {"a": 1}}))
    assert api.lambda_client.calls == [
        {"action": "CREATE_JOB", "simulate": {"outcome": "FAIL", "completionPolls": 2}, "payload": {"a": 1}}
    ]


def test_invokes_the_api_function_synchronously_with_exact_parameters(ddb: Any) -> None:
    """The exact Lambda Invoke call, checked with botocore's Stubber."""
    import io

    from botocore.response import StreamingBody

    lambda_client = boto3.client("lambda", region_name=REGION)
    body = b'{"jobId": "job-1", "status": "IN_PROGRESS", "completionPolls": 2}'
    creator = JobCreator(
        table=boto3.resource("dynamodb", region_name=REGION).Table(TOKENS_TABLE),
        api=JobApiClient(lambda_client=lambda_client, function_name="api-fn"),
        default_max_attempts=3,
        record_ttl_days=1,
    )
    with Stubber(lambda_client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))},
            {
                "FunctionName": "api-fn",
                "InvocationType": "RequestResponse",
                "Payload": b'{"action": "CREATE_JOB", "simulate": {}, "payload": {}}',
            },
        )
        assert creator.handle(_event({})) == {"jobId": "job-1", "status": "POLLING"}
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ([1, 2], "execution input must be a JSON object, got list"),
        ({"colour": "red"}, r"unknown field\(s\) colour in execution input"),
        ({"jobName": ""}, "jobName must be a string of 1 to 128 characters"),
        ({"payload": "x"}, "payload must be a JSON object, got str"),
        ({"simulate": {"outcome": "EXPLODE"}}, "simulate.outcome must be one of SUCCEED, FAIL, NEVER_FINISH"),
        ({"simulate": {"completionPolls": 0}}, "simulate.completionPolls must be an integer from 1 to 100"),
        ({"simulate": {"speed": 1}}, r"unknown field\(s\) speed in simulate"),
        ({"maxAttempts": True}, "maxAttempts must be an integer from 1 to 1000, got True"),
        ({"maxAttempts": 5000}, "maxAttempts must be an integer from 1 to 1000, got 5000"),
    ],
)
def test_bad_execution_input_fails_with_a_named_readable_error(
    creator: JobCreator, api: JobApiClient, execution_input: Any, message: str
) -> None:
    with pytest.raises(InvalidJobInput, match=message):
        creator.handle(_event(execution_input))
    assert api.lambda_client.calls == []  # nothing started on the API, nothing stored


def test_missing_task_token_says_how_to_invoke(creator: JobCreator) -> None:
    with pytest.raises(InvalidJobInput, match="taskToken is missing"):
        creator.handle({"executionId": EXECUTION, "input": {}})


def test_empty_input_is_a_valid_default_job() -> None:
    request = parse_job_request(None)
    assert request.simulate == {} and request.payload == {} and request.max_attempts is None
