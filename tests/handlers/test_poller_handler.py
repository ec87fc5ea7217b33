"""poller's Lambda handler: its event, its metrics line (also when the run fails), its deadline from
the Lambda context, its configuration from the environment and its AWS client settings."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest

import poller.handler as poller_handler
from common.config import ConfigurationError
from poller.handler import (
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    SAFETY_MARGIN_SECONDS,
    TOTAL_MAX_ATTEMPTS,
    InvalidPollRequest,
    client_config,
    lambda_handler,
)
from poller.metrics import DIMENSION, METRICS, add_run_metrics, log_metrics, metrics
from poller.service import Poller
from poller.store import JobTables

from .conftest import DUE_INDEX, POLL_TABLE, SCHEDULE, TOKENS_TABLE, Job
from .fakes import Clock, FakeStepFunctions, SmallPages, fail_dynamodb_calls, session


def _emf_lines(out: str) -> list[dict[str, Any]]:
    """The EMF documents printed, each metric's values (Powertools writes a list) as one number."""
    documents = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    for document in documents:
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            [document[metric["Name"]]] = document[metric["Name"]]
    return documents


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"jobId": 5}, "jobId must be a non-empty string, got 5"),
        ({"jobId": ""}, "jobId must be a non-empty string, got ''"),
        ({"jobID": "x", "id": "y"}, r"^unknown field\(s\) id, jobID: the poller takes \{\} \(every shard\)"),
        ([1], r"^the poller takes \{\} \(every shard\), .* or \{\"jobId\": \"...\"\} \(one job\); got list$"),
        ({"shard": 1}, r"^shard must be a shard number as a string"),
        ({"shard": "one"}, r"^shard must be a shard number as a string"),
        ({"shard": "0", "jobId": "j"}, r"^jobId and shard cannot be combined"),
        ("j-1", "; got str$"),
    ],
)
def test_handler_rejects_events_it_does_not_understand(poller: Poller, event: Any, message: str) -> None:
    with pytest.raises(InvalidPollRequest, match=message):
        lambda_handler(event, None, poller=poller)


def test_handler_polls_every_due_job_or_the_one_asked_for(
    poller: Poller, new_job: Callable[..., Job], sfn: FakeStepFunctions
) -> None:
    one, other = new_job({"completionPolls": 1}), new_job({"completionPolls": 1})
    assert lambda_handler({"jobId": one.job_id}, None, poller=poller)["succeeded"] == 1
    assert sfn.tokens_called() == {one.token}
    assert lambda_handler({}, None, poller=poller)["succeeded"] == 1
    assert sfn.tokens_called() == {one.token, other.token}


def test_each_run_emits_its_counts_as_embedded_metrics(
    poller: Poller,
    new_job: Callable[..., Job],
    sfn: FakeStepFunctions,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "poller-fn")
    jobs = [new_job({"completionPolls": 1}) for _ in range(3)]
    sfn.inject("SendTaskSuccess", "bug", token=jobs[0].token)
    lambda_handler({}, None, poller=poller)
    [emf] = _emf_lines(capfd.readouterr().out)
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "CallbackPattern/Poller" and directive["Dimensions"] == [["FunctionName"]]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert len(directive["Metrics"]) == len(units)  # each metric once
    assert units == {
        **dict.fromkeys(METRICS.values(), "Count"),
        "DueJobs": "Count",
        "OldestJobAgeSeconds": "Seconds",
        "DueLagSeconds": "Seconds",
    }
    assert (emf["FunctionName"], emf["JobErrors"], emf["JobsSucceeded"], emf["JobsDeferred"]) == ("poller-fn", 1, 2, 0)


def test_the_metrics_line_in_full() -> None:
    """The EMF document CloudWatch turns into metrics: counts as integers, gauges to the millisecond,
    under the one dimension the alarms select on (no `service` dimension)."""
    summary = {"succeeded": 2, "errors": 1.0, "dueJobs": 3, "oldestJobAgeSeconds": 12.34567, "dueLagSeconds": 0.5}
    before_ms = int(time.time() * 1000)
    add_run_metrics(metrics, summary, function_name="poller-fn")
    try:
        document = json.loads(json.dumps(metrics.serialize_metric_set()))
    finally:
        metrics.clear_metrics()
    assert before_ms <= document["_aws"].pop("Timestamp") <= int(time.time() * 1000)
    counts = {name: [0.0] for name in METRICS.values()} | {"JobsSucceeded": [2.0], "JobErrors": [1.0]}
    assert document == {
        "_aws": {
            "CloudWatchMetrics": [
                {
                    "Namespace": "CallbackPattern/Poller",
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in METRICS.values()]
                    + [
                        {"Name": "DueJobs", "Unit": "Count"},
                        {"Name": "OldestJobAgeSeconds", "Unit": "Seconds"},
                        {"Name": "DueLagSeconds", "Unit": "Seconds"},
                    ],
                }
            ],
        },
        "FunctionName": "poller-fn",
        **counts,
        "DueJobs": [3.0],
        "OldestJobAgeSeconds": [12.346],
        "DueLagSeconds": [0.5],
    }


def test_a_refused_event_is_still_a_run_with_its_metrics_line(
    poller: Poller, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InvalidPollRequest):
        lambda_handler({"jobID": "x"}, None, poller=poller)
    [emf] = _emf_lines(capfd.readouterr().out)
    assert {name: emf[name] for name in METRICS.values()} == dict.fromkeys(METRICS.values(), 0)


def test_a_run_for_one_job_reports_no_backlog_under_the_default_function_name(
    poller: Poller, new_job: Callable[..., Job], capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside Lambda (a test, `callbackctl poll`) there is no AWS_LAMBDA_FUNCTION_NAME; a run by id sees no backlog."""
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    job = new_job({"completionPolls": 1})
    before_ms = int(time.time() * 1000)
    lambda_handler({"jobId": job.job_id}, None, poller=poller)
    [emf] = _emf_lines(capfd.readouterr().out)
    assert (emf["FunctionName"], emf["JobsSucceeded"]) == ("poller", 1)
    assert (emf["DueJobs"], emf["OldestJobAgeSeconds"], emf["DueLagSeconds"]) == (0, 0, 0)
    assert before_ms <= emf["_aws"]["Timestamp"] <= int(time.time() * 1000)


def test_the_metrics_line_is_printed_with_what_a_failing_run_did(
    make_poller: Callable[..., Poller],
    store: JobTables,
    new_job: Callable[..., Job],
    sfn: FakeStepFunctions,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The second page of due jobs cannot be read: the run raises, the metrics still count the first page."""
    jobs = [new_job({"completionPolls": 1}) for _ in range(3)]
    failed = fail_dynamodb_calls(store.client, "Query", lambda params: "ExclusiveStartKey" in params)
    with pytest.raises(Exception, match="InternalServerError"):
        lambda_handler({}, None, poller=make_poller(tables=SmallPages.of(store)))
    assert len(failed) == 1
    [emf] = _emf_lines(capfd.readouterr().out)
    sent = len(sfn.sends())
    assert sent == 2 and {c.token for c in sfn.sends()} < {job.token for job in jobs}
    assert emf["JobsSucceeded"] == sent  # the jobs the run finished before it failed are counted


class _SpyPoller:
    def __init__(self) -> None:
        self.deadlines: list[float | None] = []
        self.shards: list[str | None] = []

    def run(
        self, job_id: str | None = None, *, shard: str | None = None, deadline: float | None = None, counts: Any = None
    ) -> dict[str, int]:
        self.deadlines.append(deadline)
        self.shards.append(shard)
        return {}


class _Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.mark.parametrize(
    ("remaining_ms", "claims_for_seconds"),
    [(900_000, 885.0), (60_000, 45.0), (30_000, 15.0), (20_000, 10.0), (1_000, 0.5)],
)
def test_the_deadline_keeps_a_safety_margin_before_the_function_times_out(
    remaining_ms: int, claims_for_seconds: float
) -> None:
    """Claims stop SAFETY_MARGIN_SECONDS (15 s) before the timeout, or at half the time left if that is less."""
    spy = _SpyPoller()
    before = time.monotonic()
    lambda_handler({}, _Context(remaining_ms), poller=spy)  # type: ignore[arg-type]
    after = time.monotonic()
    [deadline] = spy.deadlines
    assert deadline is not None and before + claims_for_seconds <= deadline <= after + claims_for_seconds


def test_without_a_lambda_context_there_is_no_deadline() -> None:
    spy = _SpyPoller()
    lambda_handler({}, None, poller=spy)  # type: ignore[arg-type]
    assert spy.deadlines == [None]


def test_a_shard_schedule_runs_its_shard_only() -> None:
    spy = _SpyPoller()
    lambda_handler({"shard": "3"}, None, poller=spy)  # type: ignore[arg-type]
    lambda_handler({}, None, poller=spy)  # type: ignore[arg-type]
    assert spy.shards == ["3", None]


def test_a_run_with_a_second_left_still_works_its_jobs(poller: Poller, new_job: Callable[..., Job]) -> None:
    new_job({"completionPolls": 1})
    summary = lambda_handler({}, _Context(1_000), poller=poller)
    assert summary["succeeded"] == 1 and summary["deferred"] == 0


# Configuration and AWS clients.

_ENV = {
    "POLLER_CONCURRENCY": "4",
    "TASK_TOKENS_TABLE_NAME": TOKENS_TABLE,
    "DUE_INDEX_NAME": DUE_INDEX,
    "SIMULATED_API_FUNCTION_NAME": "simulated-api",
    "CLAIM_SECONDS": "120",
    "POLL_STATE_TABLE_NAME": POLL_TABLE,
    "POLL_SCHEDULE": SCHEDULE.to_json(),
    "SEND_TASK_RATE_PER_SECOND": "250",
    "JOB_API_RATE_PER_SECOND": "100",
}


class _RecordingBoto3:
    """Stands in for the boto3 module in poller.handler: records each client's botocore config."""

    def __init__(self) -> None:
        self.configs: dict[str, Any] = {}

    def client(self, service: Any, *, config: Any = None) -> Any:
        self.configs[service] = config
        return session().client(service, config=config)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, ddb: Any) -> _RecordingBoto3:
    """The stack's environment for the poller, its tables in moto, and a fresh default poller."""
    monkeypatch.setattr(poller_handler, "_poller", None)
    recording = _RecordingBoto3()
    monkeypatch.setattr(poller_handler, "boto3", recording)
    for name, value in _ENV.items():
        monkeypatch.setenv(name, value)
    return recording


def test_the_default_poller_takes_its_settings_from_the_environment(environment: _RecordingBoto3) -> None:
    assert lambda_handler({}, None)["checked"] == 0
    built = poller_handler._poller
    assert built is not None
    assert (built.concurrency, built.sending_lease_seconds, built.schedule) == (4, 120, SCHEDULE)
    assert (built.tables.tokens_table, built.tables.poll_table, built.tables.due_index) == (
        TOKENS_TABLE,
        POLL_TABLE,
        DUE_INDEX,
    )
    assert built.api.function_name == "simulated-api"
    # Each shard's run takes its share of the stage's rates (SCHEDULE has one shard).
    assert (built.send_limiter.rate_per_second, built.api_limiter.rate_per_second) == (250, 100)


def test_the_smallest_settings_are_taken(environment: _RecordingBoto3, monkeypatch: pytest.MonkeyPatch) -> None:
    four_shards = dataclasses.replace(SCHEDULE, shards=4)
    settings = {
        "POLLER_CONCURRENCY": "1",
        "CLAIM_SECONDS": "1",
        "POLL_SCHEDULE": four_shards.to_json(),
        "SEND_TASK_RATE_PER_SECOND": "1",
        "JOB_API_RATE_PER_SECOND": "1",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    lambda_handler({}, None)
    built = poller_handler._poller
    assert built is not None
    assert (built.concurrency, built.sending_lease_seconds, built.schedule) == (1, 1, four_shards)
    assert (built.send_limiter.rate_per_second, built.api_limiter.rate_per_second) == (0.25, 0.25)


def test_every_client_gives_up_within_the_safety_margin(environment: _RecordingBoto3) -> None:
    lambda_handler({}, None)
    assert set(environment.configs) == {"dynamodb", "lambda", "stepfunctions"}
    for config in environment.configs.values():
        assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
        assert config.retries == {"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS}
        assert config.max_pool_connections == 4 + 4  # one connection per worker, and some to spare
    assert (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, TOTAL_MAX_ATTEMPTS) == (2, 4, 2)
    # A call that hangs on every attempt still ends within the margin kept at the end of a run,
    # also with standard mode's backoff before its retry (at most 1 s): 2 x (2 + 4) + 1 = 13.
    assert (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) * TOTAL_MAX_ATTEMPTS + 1 < SAFETY_MARGIN_SECONDS
    assert client_config(16).max_pool_connections == 20  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(_ENV))
def test_a_missing_environment_variable_is_named(
    environment: _RecordingBoto3, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delenv(name)
    with pytest.raises(ConfigurationError, match=f"environment variable {name} is not set"):
        lambda_handler({}, None)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("POLL_SCHEDULE", "soon", "POLL_SCHEDULE='soon' is not a poll schedule"),
        ("POLL_SCHEDULE", '{"initial": 60}', "is not a poll schedule: .*missing"),
        ("SEND_TASK_RATE_PER_SECOND", "0", "SEND_TASK_RATE_PER_SECOND=0 must be >= 1"),
        ("JOB_API_RATE_PER_SECOND", "0", "JOB_API_RATE_PER_SECOND=0 must be >= 1"),
        ("CLAIM_SECONDS", "0", "CLAIM_SECONDS=0 must be >= 1"),
        ("POLLER_CONCURRENCY", "0", "POLLER_CONCURRENCY=0 must be >= 1"),
        ("POLLER_CONCURRENCY", "four", "POLLER_CONCURRENCY='four' is not an integer"),
    ],
)
def test_a_malformed_environment_variable_is_named(
    environment: _RecordingBoto3, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        lambda_handler({}, None)


def test_a_run_reports_the_backlog_it_saw(
    poller: Poller, new_job: Callable[..., Job], clock: Clock, capfd: pytest.CaptureFixture[str]
) -> None:
    """dueJobs, the age of the oldest job it worked, and how late the most overdue job was."""
    for _ in range(3):
        new_job({"completionPolls": 5})
    clock.advance(90)
    summary = lambda_handler({}, None, poller=poller)
    assert summary["dueJobs"] == 3 and summary["heartbeats"] == 3
    # The clock fixture runs one interval ahead: the jobs are 150 s old, and were first due after
    # one jittered interval (54 to 60 s).
    assert 150 <= summary["oldestJobAgeSeconds"] <= 155
    assert 90 <= summary["dueLagSeconds"] <= 101
    [emf] = _emf_lines(capfd.readouterr().out)
    assert (emf["DueJobs"], emf["OldestJobAgeSeconds"] >= 90, emf["DueLagSeconds"] >= 90) == (3, True, True)


def test_the_metrics_line_is_out_before_the_handler_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process may be frozen or ended as soon as the handler returns: the metrics line must be
    written out by then, also when stdout is a block-buffered pipe (no PYTHONUNBUFFERED)."""
    read_end, write_end = os.pipe()
    pipe = io.TextIOWrapper(io.BufferedWriter(io.FileIO(write_end, "w")))  # block-buffered, as a pipe is
    monkeypatch.setattr("sys.stdout", pipe)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "poller-fn")
    try:
        lambda_handler({}, None, poller=_SpyPoller())  # type: ignore[arg-type]
        os.set_blocking(read_end, False)
        try:
            written = os.read(read_end, 1 << 16).decode()
        except BlockingIOError:
            written = ""  # nothing reached the pipe
        [emf] = _emf_lines(written)
        assert emf["FunctionName"] == "poller-fn"
    finally:
        monkeypatch.undo()
        pipe.close()
        os.close(read_end)


def test_a_handler_wrapped_in_log_metrics_writes_what_it_added_also_when_it_raises(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The wrapper applied to any handler (not only the poller's, wrapped once at import): its
    metrics are written when it returns, and when it raises, and its answer or error passes through."""

    @log_metrics
    def handler(event: dict[str, Any], context: Any) -> str:
        metrics.add_dimension(name=DIMENSION, value="some-fn")
        metrics.add_metric(name="Checked", unit="Count", value=event["n"])
        if event.get("fail"):
            raise RuntimeError("boom")
        return f"done {event['n']}"

    assert handler({"n": 3}, None) == "done 3"
    with pytest.raises(RuntimeError, match="boom"):
        handler({"n": 5, "fail": True}, None)
    assert [(emf["FunctionName"], emf["Checked"]) for emf in _emf_lines(capfd.readouterr().out)] == [
        ("some-fn", 3),
        ("some-fn", 5),
    ]
    assert handler.__name__ == "handler"
