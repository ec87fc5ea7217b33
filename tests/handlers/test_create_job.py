"""create_job: the job started on the API once per execution run, the token record written (and on a
retry only its token replaced), bad input refused before anything starts."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.response import StreamingBody
from botocore.stub import Stubber

import common.schedule as schedule_module
import create_job.handler as create_job_handler
from common.config import ConfigurationError
from common.errors import RECORD_WRITE_FAILED
from common.job_api import JobApiClient, JobApiError
from common.records import epoch_ms
from common.schedule import PollSchedule
from create_job.handler import JobCreator, JobRecordFinal, RecordWriteFailed, idempotency_key, lambda_handler
from create_job.validation import InvalidJobInput, Limits
from poller.service import Poller

from .conftest import LIMITS, SCHEDULE, InProcessLambda
from .fakes import FakeStepFunctions, session

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:Workflow:run-1"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAA" + "x" * 600
RETRY_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAB" + "y" * 600


MISSING_TOKEN = "taskToken is missing: invoke create_job from the state machine with .waitForTaskToken"


def _event(execution_input: Any, token: str = TOKEN, **extra: Any) -> Any:
    return {"taskToken": token, "executionId": EXECUTION, "input": execution_input, **extra}


def _records(tokens_table: Any) -> list[dict[str, Any]]:
    return tokens_table.scan(ConsistentRead=True)["Items"]


def _jobs(api_lambda: InProcessLambda) -> list[dict[str, Any]]:
    return api_lambda.jobs.table.scan(ConsistentRead=True)["Items"]


def test_stores_the_token_record_and_the_poll_state_for_the_poller(
    creator: JobCreator, tokens_table: Any, poll_table: Any
) -> None:
    before_ms = int(time.time() * 1000)
    out = lambda_handler(_event({"jobName": "nightly", "maxAttempts": 4}), None, creator=creator)
    after_ms = int(time.time() * 1000)
    assert out["status"] == "POLLING"
    record = tokens_table.get_item(Key={"jobId": out["jobId"]})["Item"]
    assert record["taskToken"] == TOKEN
    assert record["executionArn"] == EXECUTION
    assert record["idempotencyKey"] == hashlib.sha256(f"{EXECUTION}#0".encode()).hexdigest()
    assert record["status"] == "POLLING"
    assert record["maxAttempts"] == 4
    assert record["inputBytes"] == len(b'{"jobName":"nightly","maxAttempts":4}')
    assert record["jobName"] == "nightly"
    assert record["createdAt"].endswith("Z")
    # The token record holds nothing a poll changes: no schedule, no attempts, no claim.
    assert not {"dueShard", "dueAt", "attemptCount", "claimOwner", "decision"} & set(record)
    # TTL: about 7 days ahead, in epoch seconds.
    assert before_ms // 1000 + 7 * 86400 - 5 <= int(record["expiresAt"]) <= after_ms // 1000 + 7 * 86400 + 5
    state = poll_table.get_item(Key={"jobId": out["jobId"]})["Item"]
    # Pending: in the ByDue index, shard "0" (the only one), first due one jittered interval on.
    interval_ms = int(SCHEDULE.initial * 1000)
    assert state["dueShard"] == "0" and before_ms + 0.9 * interval_ms <= int(state["dueAt"]) <= after_ms + interval_ms
    assert (state["intervalMs"], state["attemptCount"], state["maxAttempts"]) == (interval_ms, 0, 4)
    assert state["inputBytes"] == record["inputBytes"]
    # The heartbeat clock starts with the task; no claim yet.
    assert before_ms <= int(state["heartbeatAt"]) <= after_ms and "claimOwner" not in state
    assert int(state["expiresAt"]) == int(record["expiresAt"])


def test_default_max_attempts_comes_from_config(creator: JobCreator, tokens_table: Any) -> None:
    out = creator.handle(_event({}))
    assert tokens_table.get_item(Key={"jobId": out["jobId"]})["Item"]["maxAttempts"] == 5


def test_passes_the_idempotency_key_simulation_settings_and_payload_to_the_api(
    creator: JobCreator, api_lambda: InProcessLambda
) -> None:
    creator.handle(_event({"simulate": {"outcome": "FAIL", "completionPolls": 2}, "payload": {"a": 1}}))
    assert api_lambda.calls == [
        {
            "action": "CREATE_JOB",
            "idempotencyKey": idempotency_key(EXECUTION, 0),
            "simulate": {"outcome": "FAIL", "completionPolls": 2},
            "payload": {"a": 1},
        }
    ]


def test_invokes_the_api_function_synchronously_with_exact_parameters(tokens_table: Any, poll_table: Any) -> None:
    """The exact Lambda Invoke call, checked with botocore's Stubber."""
    lambda_client = session().client("lambda")
    body = b'{"jobId": "job-1", "status": "IN_PROGRESS", "completionPolls": 2, "created": true}'
    creator = JobCreator(
        table=tokens_table,
        poll_table=poll_table,
        api=JobApiClient(lambda_client=lambda_client, function_name="api-fn"),
        default_max_attempts=3,
        record_ttl_days=1,
        limits=LIMITS,
        schedule=SCHEDULE,
    )
    key = hashlib.sha256(f"{EXECUTION}#0".encode()).hexdigest()
    with Stubber(lambda_client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))},
            {
                "FunctionName": "api-fn",
                "InvocationType": "RequestResponse",
                "Payload": json.dumps(
                    {"action": "CREATE_JOB", "idempotencyKey": key, "simulate": {}, "payload": {}}
                ).encode(),
            },
        )
        assert creator.handle(_event({})) == {"jobId": "job-1", "status": "POLLING"}
        stub.assert_no_pending_responses()


# Idempotent start: one job per execution run, whatever the number of retries.


def test_the_same_event_twice_starts_one_job_and_writes_one_record(
    creator: JobCreator, api_lambda: InProcessLambda, tokens_table: Any
) -> None:
    first = creator.handle(_event({"simulate": {"completionPolls": 3}}))
    second = creator.handle(_event({"simulate": {"completionPolls": 3}}))
    assert first == second
    creates = api_lambda.actions("CREATE_JOB")
    assert len(creates) == 2 and creates[0]["idempotencyKey"] == creates[1]["idempotencyKey"]
    assert [job["jobId"] for job in _jobs(api_lambda)] == [first["jobId"]]
    assert [record["jobId"] for record in _records(tokens_table)] == [first["jobId"]]


def test_a_retried_task_replaces_only_the_token_and_the_poller_answers_the_new_one(
    creator: JobCreator,
    tokens_table: Any,
    sfn: FakeStepFunctions,
    poller: Poller,
    clock: Any,
    api_lambda: InProcessLambda,
) -> None:
    sfn.start_task(EXECUTION, TOKEN)
    out = creator.handle(_event({"simulate": {"completionPolls": 2}, "maxAttempts": 3}))
    assert poller.run()["heartbeats"] == 1  # one answered check: attemptCount 1
    before = tokens_table.get_item(Key={"jobId": out["jobId"]})["Item"]

    sfn.start_task(EXECUTION, RETRY_TOKEN)  # the state machine retried the task: a new token
    assert creator.handle(_event({"simulate": {"completionPolls": 2}, "maxAttempts": 3}, RETRY_TOKEN)) == out
    after = tokens_table.get_item(Key={"jobId": out["jobId"]})["Item"]
    assert after["taskToken"] == RETRY_TOKEN and after["updatedAt"] >= before["updatedAt"]
    unchanged = {k: v for k, v in before.items() if k not in ("taskToken", "updatedAt")}
    assert {k: after[k] for k in unchanged} == unchanged  # attempts, due time, creation: kept
    assert len(_jobs(api_lambda)) == 1

    clock.advance(60)
    assert poller.run()["succeeded"] == 1
    assert [c.token for c in sfn.sends()] == [RETRY_TOKEN]
    assert sfn.count("SendTaskHeartbeat", token=RETRY_TOKEN) == 0
    assert sfn.executions[EXECUTION].status == "SUCCEEDED"


def test_a_late_earlier_attempt_never_puts_back_a_token_nobody_waits_on(
    creator: JobCreator,
    tokens_table: Any,
    poll_table: Any,
    sfn: FakeStepFunctions,
    poller: Poller,
    clock: Any,
    api_lambda: InProcessLambda,
) -> None:
    """Step Functions gave up on attempt 0 (a client-side timeout) and retried: attempt 1 stored its
    token, then attempt 0 finishes. Its token is void; writing it back would leave the waiting
    attempt without heartbeats or callback until it timed out."""
    sfn.start_task(EXECUTION, TOKEN)
    sfn.start_task(EXECUTION, RETRY_TOKEN)  # the retry: TOKEN is void now
    out = creator.handle(_event({"simulate": {"completionPolls": 1}}, RETRY_TOKEN, redriveCount=0, retryCount=1))
    key = {"jobId": out["jobId"]}
    record, state = tokens_table.get_item(Key=key)["Item"], poll_table.get_item(Key=key)["Item"]

    late = creator.handle(_event({"simulate": {"completionPolls": 1}}, TOKEN, redriveCount=0, retryCount=0))
    assert late == {"jobId": out["jobId"], "status": "SUPERSEDED"}
    assert tokens_table.get_item(Key=key)["Item"] == record  # RETRY_TOKEN, retryCount 1: untouched
    assert record["taskToken"] == RETRY_TOKEN and record["retryCount"] == 1
    assert poll_table.get_item(Key=key)["Item"] == state
    assert len(_jobs(api_lambda)) == 1

    clock.advance(60)
    assert poller.run()["succeeded"] == 1
    assert [c.token for c in sfn.sends()] == [RETRY_TOKEN]
    assert sfn.executions[EXECUTION].status == "SUCCEEDED"


def test_without_the_run_the_record_keeps_no_attempt_and_the_last_write_wins(
    creator: JobCreator, tokens_table: Any
) -> None:
    """A state machine deployed with passRedriveCount=false: a redrive reuses the job and its
    record, and the attempts start again at 0, so attempts cannot order the tokens."""
    out = creator.handle(_event({}, RETRY_TOKEN, retryCount=3))
    record = tokens_table.get_item(Key={"jobId": out["jobId"]})["Item"]
    assert "retryCount" not in record and "redriveCount" not in record
    assert creator.handle(_event({}, TOKEN, retryCount=0)) == out  # replaces the token, as before
    assert tokens_table.get_item(Key={"jobId": out["jobId"]})["Item"]["taskToken"] == TOKEN


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "UpdateItem"
    )


@pytest.mark.parametrize(
    "error",
    [
        _client_error("ValidationException", 400),
        _client_error("AccessDeniedException", 400),
        _client_error("ResourceNotFoundException", 400),
    ],
    ids=["validation", "access-denied", "no-table"],
)
def test_a_write_refused_for_good_is_not_retried_under_another_name(
    creator: JobCreator, monkeypatch: pytest.MonkeyPatch, error: ClientError
) -> None:
    """A bug or a setup error fails the task under its own name: retrying it six times would only
    hide it."""

    def refused(**_: Any) -> Any:
        raise error

    monkeypatch.setattr(creator.table, "update_item", refused)
    with pytest.raises(ClientError) as raised:
        creator.handle(_event({}))
    assert raised.value is error and not isinstance(raised.value, RecordWriteFailed)


@pytest.mark.parametrize("failing", ["token record", "poll state"])
def test_a_throttled_write_raises_record_write_failed_and_the_retry_stores_both(
    creator: JobCreator,
    tokens_table: Any,
    poll_table: Any,
    api_lambda: InProcessLambda,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    """DynamoDB throttles one write: the task fails with the name the state machine retries
    (not an error that ends the execution with a job started and a record nobody polls), and the
    retry writes both records for the same job."""
    table = creator.table if failing == "token record" else creator.poll_table
    refused: Exception = _client_error("ProvisionedThroughputExceededException", 400)

    def throttled(**_: Any) -> Any:
        raise refused

    monkeypatch.setattr(table, "update_item", throttled)
    with pytest.raises(RecordWriteFailed, match=r"could not store job \S+'s records .*ProvisionedThroughput"):
        creator.handle(_event({}))
    for transient in (_client_error("InternalServerError", 500), EndpointConnectionError(endpoint_url="http://ddb")):
        refused = transient
        with pytest.raises(RecordWriteFailed):
            creator.handle(_event({}))
    assert RecordWriteFailed.__name__ == RECORD_WRITE_FAILED  # the name the state machine retries on

    monkeypatch.undo()
    out = creator.handle(_event({}, RETRY_TOKEN, retryCount=1))
    key = {"jobId": out["jobId"]}
    assert tokens_table.get_item(Key=key)["Item"]["taskToken"] == RETRY_TOKEN
    assert poll_table.get_item(Key=key)["Item"]["dueShard"] == "0"
    assert [job["jobId"] for job in _jobs(api_lambda)] == [out["jobId"]]  # one job, started once


def test_a_redriven_execution_starts_a_new_job(
    creator: JobCreator, api_lambda: InProcessLambda, tokens_table: Any
) -> None:
    first = creator.handle(_event({}))
    redriven = creator.handle(_event({}, RETRY_TOKEN, redriveCount=1))
    assert redriven["jobId"] != first["jobId"]
    assert {job["jobId"] for job in _jobs(api_lambda)} == {first["jobId"], redriven["jobId"]}
    records = {r["jobId"]: r for r in _records(tokens_table)}
    assert records[first["jobId"]]["taskToken"] == TOKEN  # the first run's record is left alone
    assert records[redriven["jobId"]]["idempotencyKey"] == idempotency_key(EXECUTION, 1)


@pytest.mark.parametrize("final_status", ["COMPLETED", "FAILED", "MAX_ATTEMPTS", "EXPIRED", "CANCELLED"])
def test_a_retry_against_a_final_record_raises_job_record_final(
    creator: JobCreator, tokens_table: Any, final_status: str
) -> None:
    out = creator.handle(_event({}))
    tokens_table.update_item(
        Key={"jobId": out["jobId"]},
        UpdateExpression="SET #s = :final REMOVE dueShard, dueAt",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":final": final_status},
    )
    before = tokens_table.get_item(Key={"jobId": out["jobId"]})["Item"]
    with pytest.raises(JobRecordFinal, match=f"job {out['jobId']} of this execution has already ended"):
        creator.handle(_event({}, RETRY_TOKEN))
    # Not pending again, and the token nobody will answer is not stored.
    assert tokens_table.get_item(Key={"jobId": out["jobId"]})["Item"] == before


def test_a_different_request_under_the_same_execution_run_is_an_idempotency_conflict(
    creator: JobCreator, api_lambda: InProcessLambda, tokens_table: Any
) -> None:
    out = creator.handle(_event({"payload": {"n": 1}}))
    before = _records(tokens_table)
    with pytest.raises(JobApiError, match="IdempotencyConflict") as raised:
        creator.handle(_event({"payload": {"n": 2}}, RETRY_TOKEN))
    assert raised.value.error_type == "IdempotencyConflict"
    assert [job["jobId"] for job in _jobs(api_lambda)] == [out["jobId"]]
    assert _records(tokens_table) == before


# Bad input: nothing starts, nothing is stored.


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (_event([1, 2]), 'execution input must be a JSON object such as {"payload": {}}, got an array'),
        (
            _event({"maxAttempts": 1001}),
            "maxAttempts must be an integer from 1 to 1000, got 1001: "
            "the stage's task timeout leaves room for at most 1000 status checks",
        ),
        ({"executionId": EXECUTION, "input": {}}, MISSING_TOKEN),
        ({"taskToken": 123, "executionId": EXECUTION, "input": {}}, MISSING_TOKEN),
        ({"taskToken": "", "executionId": EXECUTION, "input": {}}, MISSING_TOKEN),
        ({"taskToken": TOKEN, "input": {}}, "executionId is missing from the payload"),
        ({"taskToken": TOKEN, "executionId": 5, "input": {}}, "executionId is missing from the payload"),
        (_event({}, redriveCount=-1), "redriveCount must be a non-negative integer, got -1"),
        (_event({}, redriveCount="1"), "redriveCount must be a non-negative integer, got '1'"),
        (_event({}, redriveCount=True), "redriveCount must be a non-negative integer, got True"),
        ("not an object", "create_job expects {taskToken, executionId, input} from the state machine"),
    ],
)
def test_bad_events_fail_with_a_named_readable_error_before_anything_starts(
    creator: JobCreator, api_lambda: InProcessLambda, tokens_table: Any, event: Any, message: str
) -> None:
    """Each message whole: it is what the execution's failure shows."""
    with pytest.raises(InvalidJobInput) as raised:
        creator.handle(event)
    assert str(raised.value) == message
    assert api_lambda.calls == [] and _records(tokens_table) == []


def test_the_stage_limits_reach_validation(tokens_table: Any, poll_table: Any, api: JobApiClient) -> None:
    creator = JobCreator(
        table=tokens_table,
        poll_table=poll_table,
        api=api,
        default_max_attempts=3,
        record_ttl_days=1,
        limits=Limits(max_attempts=3, max_input_bytes=100),
        schedule=SCHEDULE,
    )
    assert creator.handle(_event({"maxAttempts": 3}))["status"] == "POLLING"
    with pytest.raises(InvalidJobInput, match="at most 3 status checks"):
        creator.handle(_event({"maxAttempts": 4}))
    with pytest.raises(InvalidJobInput, match="the limit is 100 bytes"):
        creator.handle(_event({"payload": {"s": "x" * 100}}))


# Configuration from the environment.

_ENV = {
    "TASK_TOKENS_TABLE_NAME": "TaskTokens",
    "POLL_STATE_TABLE_NAME": "PollState",
    "POLL_SCHEDULE": SCHEDULE.to_json(),
    "SIMULATED_API_FUNCTION_NAME": "api-fn",
    "MAX_ATTEMPTS": "10",
    "MAX_ATTEMPTS_LIMIT": "59",
    "MAX_INPUT_BYTES": "65536",
    "RECORD_TTL_DAYS": "7",
}


@pytest.fixture
def fresh_creator(monkeypatch: pytest.MonkeyPatch, aws: None) -> Callable[[], JobCreator]:
    monkeypatch.setattr(create_job_handler, "_creator", None)
    monkeypatch.setattr(create_job_handler, "boto3", session())  # a cached service model: faster clients
    for name, value in _ENV.items():
        monkeypatch.setenv(name, value)
    return create_job_handler._default_creator


def test_the_default_creator_reads_its_limits_from_the_environment(fresh_creator: Callable[[], JobCreator]) -> None:
    creator = fresh_creator()
    assert creator.limits == Limits(max_attempts=59, max_input_bytes=65_536, schedule=SCHEDULE)
    assert (creator.default_max_attempts, creator.record_ttl_days, creator.schedule) == (10, 7, SCHEDULE)
    assert (creator.table.name, creator.poll_table.name) == ("TaskTokens", "PollState")
    assert creator.api.function_name == "api-fn"
    assert creator.api.lambda_client.meta.service_model.service_name == "lambda"
    assert fresh_creator() is creator  # built once per Lambda container


_INT_SETTINGS = ["MAX_ATTEMPTS", "MAX_ATTEMPTS_LIMIT", "MAX_INPUT_BYTES", "RECORD_TTL_DAYS"]


@pytest.mark.parametrize("name", _INT_SETTINGS)
def test_a_number_setting_of_one_is_taken_zero_is_named(
    fresh_creator: Callable[[], JobCreator], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "1")
    fresh_creator()
    monkeypatch.setattr(create_job_handler, "_creator", None)
    monkeypatch.setenv(name, "0")
    with pytest.raises(ConfigurationError, match=f"environment variable {name}=0 must be >= 1"):
        fresh_creator()


@pytest.mark.parametrize("name", sorted(_ENV))
def test_a_missing_environment_variable_is_named(
    fresh_creator: Callable[[], JobCreator], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delenv(name)
    with pytest.raises(ConfigurationError, match=f"environment variable {name} is not set"):
        lambda_handler(_event({}), None)


def test_an_execution_may_ask_for_its_own_first_poll_interval(
    creator: JobCreator, poll_table: Any, tokens_table: Any
) -> None:
    out = creator.handle(_event({"pollIntervalSeconds": 90.5}))
    state = poll_table.get_item(Key={"jobId": out["jobId"]})["Item"]
    assert state["intervalMs"] == 90_500


@pytest.mark.parametrize(
    ("refresh", "asked", "first_wait_ms"),
    [
        (1000.0, 90.5, 90_500),  # one interval
        (60.0, 90.5, 60_000),  # never past the heartbeat refresh: the heartbeat clock started with the task
    ],
)
def test_the_first_poll_comes_one_jittered_interval_after_the_start_and_never_after_a_heartbeat_is_owed(
    tokens_table: Any,
    poll_table: Any,
    api: JobApiClient,
    monkeypatch: pytest.MonkeyPatch,
    refresh: float,
    asked: float,
    first_wait_ms: int,
) -> None:
    """Due one interval after the task began at the most (jitter only shortens it), to the
    millisecond, or at the heartbeat refresh if that comes first (else a crash at the first poll
    could leave the task without a heartbeat past its timeout); the heartbeat clock starts at the
    task's start."""
    monkeypatch.setattr(schedule_module.random, "random", lambda: 0.0)  # no jitter: the full interval
    creator = _creator(tokens_table, poll_table, api, dataclasses.replace(SCHEDULE, heartbeat_refresh=refresh))
    out = creator.handle(_event({"pollIntervalSeconds": asked}))
    state = poll_table.get_item(Key={"jobId": out["jobId"]})["Item"]
    started_ms = state["heartbeatAt"]
    assert state["dueAt"] - started_ms == first_wait_ms
    assert started_ms == epoch_ms(datetime.fromisoformat(state["createdAt"]))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (59, r"pollIntervalSeconds must be from 60 to 120, got 59"),
        (120.5, r"pollIntervalSeconds must be from 60 to 120, got 120.5"),
        ("60", r"pollIntervalSeconds must be a number of seconds, got '60'"),
        (True, r"pollIntervalSeconds must be a number of seconds, got True"),
    ],
)
def test_a_poll_interval_outside_the_stage_range_is_refused(creator: JobCreator, value: Any, message: str) -> None:
    with pytest.raises(InvalidJobInput, match=message):
        creator.handle(_event({"pollIntervalSeconds": value}))


def _creator(tokens_table: Any, poll_table: Any, api: JobApiClient, schedule: PollSchedule) -> JobCreator:
    """A creator on a schedule of its own: 3 attempts by default, at most 4."""
    return JobCreator(
        table=tokens_table,
        poll_table=poll_table,
        api=api,
        default_max_attempts=3,
        record_ttl_days=1,
        limits=Limits(max_attempts=4, max_input_bytes=1000, schedule=schedule),
        schedule=schedule,
    )


def test_a_longer_first_interval_leaves_room_for_fewer_attempts(
    tokens_table: Any, poll_table: Any, api: JobApiClient
) -> None:
    """With back-off, an execution that asks to be polled less often gets fewer attempts in its
    task timeout; asking for more than fit is named, and so is a stage default that no longer fits."""
    schedule = PollSchedule(
        initial=60, min_initial=60, cap=600, factor=2.0, heartbeat_refresh=1000, lag=0, task_timeout=1000, shards=1
    )
    assert (schedule.attempts_limit(60), schedule.attempts_limit(300)) == (4, 2)  # 60+120+240+480 < 1000 < 300+600+...
    creator = _creator(tokens_table, poll_table, api, schedule)
    assert creator.handle(_event({"pollIntervalSeconds": 300, "maxAttempts": 2}))["status"] == "POLLING"
    with pytest.raises(InvalidJobInput, match="at most 2 status checks at this pollIntervalSeconds"):
        creator.handle(_event({"pollIntervalSeconds": 300, "maxAttempts": 3}))
    with pytest.raises(InvalidJobInput) as raised:
        creator.handle(_event({"pollIntervalSeconds": 300}))
    assert str(raised.value) == (
        "with pollIntervalSeconds 300 only 2 status checks fit the task timeout, fewer than the stage's 3: "
        "set maxAttempts too"
    )
    exactly = dataclasses.replace(creator, default_max_attempts=2)  # the default fits exactly: no error
    assert exactly.handle(_event({"pollIntervalSeconds": 300}, RETRY_TOKEN))["status"] == "POLLING"


def test_the_attempts_message_names_the_interval_the_execution_asked_for_at_any_clock_speed(
    tokens_table: Any, poll_table: Any, api: JobApiClient
) -> None:
    """On a local cloud whose scheduler runs 2x, the interval is given in schedule seconds (300) and
    named so in the message, not in the compressed real seconds the poller waits (150)."""
    schedule = PollSchedule(
        initial=30,
        min_initial=30,
        cap=300,
        factor=2.0,
        heartbeat_refresh=500,
        lag=0,
        task_timeout=500,
        shards=1,
        clock_speed=2.0,
    )
    creator = _creator(tokens_table, poll_table, api, schedule)
    with pytest.raises(InvalidJobInput, match=r"^with pollIntervalSeconds 300 only \d status checks fit"):
        creator.handle(_event({"pollIntervalSeconds": 300}))


def test_a_retried_task_keeps_the_poll_schedule_and_attempts_and_restarts_the_heartbeat_clock(
    creator: JobCreator, poll_table: Any
) -> None:
    first = creator.handle(_event({}))
    key = {"jobId": first["jobId"]}
    poll_table.update_item(  # the job was polled twice meanwhile, its interval backed off
        Key=key,
        UpdateExpression="SET attemptCount = :two, intervalMs = :iv, dueAt = :due, heartbeatAt = :old",
        ExpressionAttributeValues={":two": 2, ":iv": 90_000, ":due": 123, ":old": 1},
    )
    before_ms = int(time.time() * 1000)
    assert creator.handle({**_event({}), "taskToken": "token-of-the-retry"})["jobId"] == first["jobId"]
    state = poll_table.get_item(Key=key)["Item"]
    assert (state["attemptCount"], state["intervalMs"], state["dueAt"]) == (2, 90_000, 123)
    assert int(state["heartbeatAt"]) >= before_ms  # the retried task is a new task: a new heartbeat clock
