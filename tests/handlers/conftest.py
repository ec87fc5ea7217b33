"""Fixtures for handler tests: moto-backed DynamoDB tables shaped like the stack's, the simulated
API behind an in-process Lambda, a counting Step Functions double and a poller with a movable clock."""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from common.job_api import JobApiClient
from common.schedule import PollSchedule
from create_job.handler import JobCreator
from create_job.validation import Limits
from poller.ratelimit import RateLimiter
from poller.service import Poller
from poller.store import JobTables
from simulated_api.handler import JobsTable
from simulated_api.handler import lambda_handler as simulated_api_handler

from .fakes import REGION, Clock, FakeStepFunctions, session, shared_dynamodb

TOKENS_TABLE = "TaskTokens"
POLL_TABLE = "PollState"
JOBS_TABLE = "Jobs"
DUE_INDEX = "ByDue"
CLAIM_SECONDS = 60
INTERVAL_SECONDS = 60.0
# The handler tests' schedule: a poll every minute, no back-off, a heartbeat on every poll (owed
# once the last one is a minute old). Back-off and heartbeat refresh have their own tests with their own.
SCHEDULE = PollSchedule(
    initial=INTERVAL_SECONDS,
    min_initial=INTERVAL_SECONDS,
    cap=2 * INTERVAL_SECONDS,  # an execution may ask for a first interval of up to two minutes
    factor=1.0,
    heartbeat_refresh=INTERVAL_SECONDS,
    lag=120.0,
    task_timeout=100_000.0,
    shards=1,
)
LIMITS = Limits(max_attempts=1000, max_input_bytes=131_072, schedule=SCHEDULE)  # the largest a stage allows


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "SIMULATED_FAULTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


# Operators follow one job through the logs by its id, and its task token by the token's fingerprint.
_JOB_LOGGERS = ("create_job", "poller", "simulated_api")
_FINGERPRINT = re.compile(r"tok-[0-9a-f]{12}")
_RECORD_ATTRIBUTES = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _log_problem(record: logging.LogRecord) -> str | None:
    fields = {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}
    line = f"{record.name} {record.levelname} {record.getMessage()!r} {fields}"
    # A run's summary, a shard's lease, an injected delay of the job API: about no one job.
    if "summary" in fields or set(fields) in ({"shard"}, {"seconds"}):
        return None
    if not isinstance(fields.get("jobId"), str) or not fields["jobId"]:
        return f"names no job: {line}"
    if "token" in fields and not _FINGERPRINT.fullmatch(str(fields["token"])):
        return f"token is not a fingerprint: {line}"
    if any(key != "token" and isinstance(v, str) and _FINGERPRINT.fullmatch(v) for key, v in fields.items()):
        return f"a fingerprint outside the token field: {line}"
    return None


@pytest.fixture(autouse=True)
def _job_log_lines_name_their_job() -> Iterator[None]:
    """After every test: each line create_job, the poller and the job API logged about a job names the job
    (jobId), and a token only by its fingerprint, always in the field `token`."""
    recorder = _Recorder()
    loggers = [logging.getLogger(name) for name in _JOB_LOGGERS]
    for logger in loggers:
        logger.addHandler(recorder)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(recorder)
    assert [problem for record in recorder.records if (problem := _log_problem(record))] == []


# moto's backends are not thread-safe (a TransactWriteItems deep-copies a table another thread is
# writing), and the poller works jobs on a thread pool: moto answers one request at a time here.
_MOTO_LOCK = threading.RLock()
_unlocked_process_request = BotocoreStubber.process_request


def _process_request_one_at_a_time(self: BotocoreStubber, request: Any) -> Any:
    with _MOTO_LOCK:
        return _unlocked_process_request(self, request)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(BotocoreStubber, "process_request", _process_request_one_at_a_time)
    with mock_aws():
        yield


@pytest.fixture
def ddb(aws: None) -> Any:
    """The two tables as the stack defines them (stacks/job_store.py)."""
    client = shared_dynamodb().meta.client
    client.create_table(
        TableName=TOKENS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
    )
    client.create_table(
        TableName=POLL_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "jobId", "AttributeType": "S"},
            {"AttributeName": "dueShard", "AttributeType": "S"},
            {"AttributeName": "dueAt", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": DUE_INDEX,
                "KeySchema": [
                    {"AttributeName": "dueShard", "KeyType": "HASH"},
                    {"AttributeName": "dueAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["heartbeatAt", "intervalMs"]},
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
def tokens_table(ddb: Any) -> Any:
    return shared_dynamodb().Table(TOKENS_TABLE)


@pytest.fixture
def poll_table(ddb: Any) -> Any:
    return shared_dynamodb().Table(POLL_TABLE)


@pytest.fixture
def jobs_table(ddb: Any) -> JobsTable:
    return JobsTable(table=shared_dynamodb().Table(JOBS_TABLE), polls_min=2, polls_max=3)


class InProcessLambda:
    """Runs the simulated_api handler in this process behind the Lambda Invoke API's shape, and
    records every request. Errors come back the way Lambda returns them: FunctionError plus
    {errorType, errorMessage}. The real Lambda path is covered by the end-to-end tests."""

    def __init__(self, jobs: JobsTable) -> None:
        self.jobs = jobs
        self.calls: list[dict[str, Any]] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        request = json.loads(Payload)
        self.calls.append(request)
        try:
            body: Any = simulated_api_handler(request, None, jobs=self.jobs)
        except Exception as err:  # Lambda reports any exception as a function error
            body = {"errorType": type(err).__name__, "errorMessage": str(err), "stackTrace": traceback.format_exc()}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}

    def actions(self, action: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["action"] == action]


@pytest.fixture
def api_lambda(jobs_table: JobsTable) -> InProcessLambda:
    return InProcessLambda(jobs_table)


@pytest.fixture
def api(api_lambda: InProcessLambda) -> JobApiClient:
    return JobApiClient(lambda_client=api_lambda, function_name="simulated-api")


@pytest.fixture
def creator(tokens_table: Any, poll_table: Any, api: JobApiClient) -> JobCreator:
    return JobCreator(
        table=tokens_table,
        poll_table=poll_table,
        api=api,
        default_max_attempts=5,
        record_ttl_days=7,
        limits=LIMITS,
        schedule=SCHEDULE,
    )


# The poller side.


@pytest.fixture
def store(ddb: Any) -> JobTables:
    client = session().client("dynamodb")

    def no_scans(**_: Any) -> None:
        raise AssertionError("the poller must Query the due index, never Scan the table")

    client.meta.events.register("before-call.dynamodb.Scan", no_scans)
    return JobTables(client=client, tokens_table=TOKENS_TABLE, poll_table=POLL_TABLE, due_index=DUE_INDEX)


@pytest.fixture
def sfn(aws: None) -> FakeStepFunctions:
    return FakeStepFunctions()


@pytest.fixture
def clock() -> Clock:
    """The poller's clock, one first interval ahead of real time: jobs create_job writes (at real
    time) are due at once."""
    ahead = Clock()
    ahead.advance(SCHEDULE.initial)
    return ahead


@pytest.fixture
def make_poller(store: JobTables, api: JobApiClient, sfn: FakeStepFunctions, clock: Clock) -> Callable[..., Poller]:
    """A poller on the shared table, API, Step Functions double and clock; keywords override."""

    def make(**overrides: Any) -> Poller:
        settings: dict[str, Any] = {
            "tables": store,
            "api": api,
            "sfn": sfn.client,
            "concurrency": 4,
            "schedule": SCHEDULE,
            "sending_lease_seconds": CLAIM_SECONDS,
            "send_limiter": RateLimiter(rate_per_second=10_000),
            "api_limiter": RateLimiter(rate_per_second=10_000),
            "clock": clock,
        }
        settings.update(overrides)
        return Poller(**settings)

    return make


@pytest.fixture
def poller(make_poller: Callable[..., Poller]) -> Poller:
    return make_poller()


@dataclass(frozen=True)
class Job:
    job_id: str
    token: str
    execution_arn: str


@pytest.fixture
def new_job(creator: JobCreator, sfn: FakeStepFunctions) -> Callable[..., Job]:
    """Start an execution's task: create_job runs, and Step Functions waits for the token."""
    counter = itertools.count()

    def make(simulate: dict[str, Any] | None = None, *, max_attempts: int | None = None, **extra: Any) -> Job:
        n = next(counter)
        token = f"token-{n:05d}-" + "t" * 200
        execution_arn = f"arn:aws:states:us-east-1:123456789012:execution:Workflow:run-{n}"
        execution_input: dict[str, Any] = {"simulate": {"completionPolls": 1} if simulate is None else simulate}
        if max_attempts is not None:
            execution_input["maxAttempts"] = max_attempts
        execution_input.update(extra)
        sfn.start_task(execution_arn, token)
        # As the deployed state machine: the execution's run and the task's attempt come with the token.
        out = creator.handle(
            {
                "taskToken": token,
                "executionId": execution_arn,
                "redriveCount": 0,
                "retryCount": 0,
                "input": execution_input,
            }
        )
        return Job(out["jobId"], token, execution_arn)

    return make
