"""poller: claims, sends and final states on moto DynamoDB; exact Step Functions calls via Stubber."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from common.job_api import JobApiClient, JobApiError
from create_job.handler import JobCreator
from poller.handler import InvalidPollRequest, lambda_handler
from poller.service import Poller, UnknownJob
from poller.store import TokenStore

from .conftest import PENDING_INDEX, REGION, TOKENS_TABLE


@pytest.fixture
def store(ddb: Any) -> TokenStore:
    client = boto3.client("dynamodb", region_name=REGION)

    def no_scans(**_: Any) -> None:
        raise AssertionError("the poller must Query the status index, never Scan the table")

    client.meta.events.register("before-call.dynamodb.Scan", no_scans)
    return TokenStore(client=client, table_name=TOKENS_TABLE, pending_index=PENDING_INDEX)


@pytest.fixture
def sfn() -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def new_job(ddb: Any, api: JobApiClient) -> Any:
    table = boto3.resource("dynamodb", region_name=REGION).Table(TOKENS_TABLE)
    creator = JobCreator(table=table, api=api, default_max_attempts=5, record_ttl_days=7)
    counter = iter(range(10_000))

    def make(simulate: dict[str, Any] | None = None, max_attempts: int | None = None) -> tuple[str, str]:
        token = f"token-{next(counter):05d}-" + "t" * 200
        execution_input: dict[str, Any] = {"simulate": simulate or {"completionPolls": 1}}
        if max_attempts:
            execution_input["maxAttempts"] = max_attempts
        out = creator.handle({"taskToken": token, "executionId": "arn:exec", "input": execution_input})
        return out["jobId"], token

    return make


def _poller(store: TokenStore, api: JobApiClient, sfn: Any, **kwargs: Any) -> Poller:
    return Poller(store=store, api=api, sfn=sfn, concurrency=kwargs.pop("concurrency", 4), **kwargs)


def test_completed_job_sends_task_success_with_the_result(store, api, sfn, new_job) -> None:
    job_id, token = new_job({"completionPolls": 1}, None)
    with Stubber(sfn) as stub:
        stub.add_response("send_task_success", {}, {"taskToken": token, "output": stub_any_result(job_id)})
        summary = _poller(store, api, sfn).run()
        stub.assert_no_pending_responses()
    assert summary["succeeded"] == 1 and summary["checked"] == 1
    record = store.get(job_id)
    assert record is not None
    assert record["status"] == "COMPLETED" and record["attemptCount"] == 1
    assert "claimOwner" not in record and "claimUntil" not in record


def stub_any_result(job_id: str) -> Any:
    """Matches SendTaskSuccess output: the job result as JSON, naming the job."""

    class _Result:
        def __eq__(self, other: object) -> bool:
            return isinstance(other, str) and json.loads(other)["jobId"] == job_id

    return _Result()


def test_failed_job_sends_task_failure_job_failed(store, api, sfn, new_job) -> None:
    job_id, token = new_job({"outcome": "FAIL", "completionPolls": 1})
    with Stubber(sfn) as stub:
        stub.add_response(
            "send_task_failure",
            {},
            {
                "taskToken": token,
                "error": "JobFailed",
                "cause": f"simulated failure of job {job_id} after 1 status checks",
            },
        )
        assert _poller(store, api, sfn).run()["failed"] == 1
        stub.assert_no_pending_responses()
    assert store.get(job_id)["status"] == "FAILED"  # type: ignore[index]


def test_running_job_gets_a_heartbeat_and_stays_pending(store, api, sfn, new_job) -> None:
    job_id, token = new_job({"completionPolls": 3})
    with Stubber(sfn) as stub:
        stub.add_response("send_task_heartbeat", {}, {"taskToken": token})
        assert _poller(store, api, sfn).run()["heartbeats"] == 1
        stub.assert_no_pending_responses()
    record = store.get(job_id)
    assert record is not None
    assert record["status"] == "POLLING" and record["attemptCount"] == 1 and "claimOwner" not in record


def test_attempts_exhausted_sends_max_attempts_exceeded(store, api, sfn, new_job) -> None:
    job_id, token = new_job({"outcome": "NEVER_FINISH"}, max_attempts=2)
    poller = _poller(store, api, sfn)
    with Stubber(sfn) as stub:
        stub.add_response("send_task_heartbeat", {}, {"taskToken": token})
        stub.add_response(
            "send_task_failure",
            {},
            {
                "taskToken": token,
                "error": "MaxAttemptsExceeded",
                "cause": f"job {job_id} still IN_PROGRESS after 2 poll attempts (limit 2)",
            },
        )
        poller.run()
        poller.run()
        stub.assert_no_pending_responses()
        assert poller.run()["checked"] == 0  # final: no longer pending, nothing more is sent
    assert store.get(job_id)["status"] == "MAX_ATTEMPTS"  # type: ignore[index]


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
@pytest.mark.parametrize(
    ("simulate", "method"),
    [({"completionPolls": 1}, "send_task_success"), ({"completionPolls": 5}, "send_task_heartbeat")],
)
def test_token_no_longer_accepted_marks_the_job_expired(store, api, sfn, new_job, code, simulate, method) -> None:
    job_id, _ = new_job(simulate)
    with Stubber(sfn) as stub:
        stub.add_client_error(method, service_error_code=code, http_status_code=400)
        assert _poller(store, api, sfn).run()["expired"] == 1
    record = store.get(job_id)
    assert record is not None and record["status"] == "EXPIRED" and code in record["finalDetail"]  # type: ignore[typeddict-item]


def test_transient_send_failure_leaves_the_job_claimable_and_the_next_run_sends(store, api, sfn, new_job) -> None:
    job_id, token = new_job({"completionPolls": 1})
    with Stubber(sfn) as stub:
        stub.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)
        assert _poller(store, api, sfn).run()["errors"] == 1
        record = store.get(job_id)
        assert record is not None and record["status"] == "POLLING" and "claimOwner" not in record
        stub.add_response("send_task_success", {}, {"taskToken": token, "output": stub_any_result(job_id)})
        assert _poller(store, api, sfn).run()["succeeded"] == 1
        stub.assert_no_pending_responses()
    assert store.get(job_id)["status"] == "COMPLETED"  # type: ignore[index]


class RecordingSfn:
    """Accepts every send and records it; thread-safe (used where call order is not fixed)."""

    def __init__(self, fail_for: set[str] | None = None) -> None:
        self.lock = threading.Lock()
        self.sends: Counter[str] = Counter()
        self.heartbeats: Counter[str] = Counter()
        self.fail_for = fail_for or set()

    def _finish(self, token: str) -> dict[str, Any]:
        if token in self.fail_for:
            raise ValueError("unexpected bug while sending")
        with self.lock:
            self.sends[token] += 1
        return {}

    def send_task_success(self, *, taskToken: str, output: str) -> dict[str, Any]:
        return self._finish(taskToken)

    def send_task_failure(self, *, taskToken: str, error: str, cause: str) -> dict[str, Any]:
        return self._finish(taskToken)

    def send_task_heartbeat(self, *, taskToken: str) -> dict[str, Any]:
        with self.lock:
            self.heartbeats[taskToken] += 1
        return {}


def test_one_bad_job_never_stops_the_batch(store, api, new_job) -> None:
    jobs = [new_job({"completionPolls": 1}) for _ in range(5)]
    bad_token = jobs[2][1]
    sfn = RecordingSfn(fail_for={bad_token})
    summary = _poller(store, api, sfn).run()
    assert summary["succeeded"] == 4 and summary["errors"] == 1
    assert set(sfn.sends) == {token for _, token in jobs} - {bad_token}
    bad = store.get(jobs[2][0])
    assert bad is not None and bad["status"] == "POLLING" and "claimOwner" not in bad  # released, not locked
    sfn.fail_for.clear()
    assert _poller(store, api, sfn).run()["succeeded"] == 1 and sfn.sends[bad_token] == 1


def test_two_pollers_at_once_send_exactly_once_per_job(store, api, new_job) -> None:
    """Poller B runs in full while poller A holds its claims mid-run: B must skip A's jobs and vice versa."""
    jobs = [new_job({"completionPolls": 1}) for _ in range(30)]
    sfn = RecordingSfn()
    poller_b = _poller(store, api, sfn, concurrency=4)
    b_summaries: list[dict[str, Any]] = []

    class InterleavingApi:
        """A's status checks: the first one lets poller B run a whole batch before A continues."""

        def __init__(self) -> None:
            self.first = threading.Event()

        def check_status(self, job_id: str) -> Any:
            if not self.first.is_set():
                self.first.set()
                b_summaries.append(poller_b.run())
            return api.check_status(job_id)

    poller_a = _poller(store, InterleavingApi(), sfn, concurrency=1)  # type: ignore[arg-type]
    a_summary = poller_a.run()
    assert b_summaries and b_summaries[0]["skipped"] >= 1  # B saw A's claim and left that job alone
    assert a_summary["succeeded"] + b_summaries[0]["succeeded"] == 30
    assert sfn.sends == Counter({token: 1 for _, token in jobs})
    for job_id, _ in jobs:
        assert store.get(job_id)["status"] == "COMPLETED"  # type: ignore[index]


# Truly parallel pollers are tested end to end on DynamoDB Local (tests/e2e, two pollers at once):
# moto's in-process DynamoDB does not make a conditional write atomic across threads.


def test_poll_one_job_by_id_and_unknown_id(store, api, new_job, monkeypatch) -> None:
    job_id, token = new_job({"completionPolls": 1})
    other_id, _ = new_job({"completionPolls": 1})
    sfn = RecordingSfn()
    poller = _poller(store, api, sfn)
    assert lambda_handler({"jobId": job_id}, None, poller=poller)["succeeded"] == 1
    assert set(sfn.sends) == {token}
    assert store.get(other_id)["status"] == "POLLING"  # type: ignore[index]
    assert lambda_handler({"jobId": job_id}, None, poller=poller)["skipped"] == 1  # already final
    with pytest.raises(UnknownJob, match="no job 'missing' in the task-token table"):
        lambda_handler({"jobId": "missing"}, None, poller=poller)


def test_claim_of_a_crashed_poller_lapses(store, api, new_job) -> None:
    job_id, _ = new_job({"completionPolls": 1})
    assert store.claim(job_id, owner="crashed", now=1_000, claim_seconds=60, updated_at="t") is not None
    assert store.claim(job_id, owner="other", now=1_030, claim_seconds=60, updated_at="t") is None
    reclaimed = store.claim(job_id, owner="other", now=1_061, claim_seconds=60, updated_at="t")
    assert reclaimed is not None and reclaimed["attemptCount"] == 2


def test_the_task_token_is_never_logged_whole(store, api, sfn, new_job, capfd) -> None:
    _, token = new_job({"completionPolls": 1})
    with Stubber(sfn) as stub:
        stub.add_client_error("send_task_success", service_error_code="ServiceUnavailable", http_status_code=503)
        _poller(store, api, sfn).run()
    logs = capfd.readouterr().out
    assert "tok-" in logs and token not in logs and token[:40] not in logs


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"jobId": 5}, "jobId must be a non-empty string, got 5"),
        ({"jobID": "x"}, r"unknown field\(s\) jobID"),
        ([1], "the poller takes {}"),
    ],
)
def test_handler_rejects_events_it_does_not_understand(store, api, sfn, event, message) -> None:
    with pytest.raises(InvalidPollRequest, match=message):
        lambda_handler(event, None, poller=_poller(store, api, sfn))


def test_an_unexpected_error_after_the_claim_releases_it_at_once(store, api, new_job) -> None:
    job_id, token = new_job({"completionPolls": 1})

    class BrokenApi:
        def check_status(self, job_id: str) -> Any:
            raise KeyError("something nobody expected")

    assert _poller(store, BrokenApi(), RecordingSfn()).run()["errors"] == 1  # type: ignore[arg-type]
    record = store.get(job_id)
    assert record is not None and record["status"] == "POLLING" and "claimOwner" not in record
    sfn = RecordingSfn()
    assert _poller(store, api, sfn).run()["succeeded"] == 1 and set(sfn.sends) == {token}


def test_non_json_answer_from_the_job_api_is_a_readable_error(store, new_job) -> None:
    class GarbledLambda:
        def invoke(self, **_: Any) -> dict[str, Any]:
            import io

            return {"StatusCode": 200, "Payload": io.BytesIO(b"<html>502</html>")}

    with pytest.raises(JobApiError, match="BadResponse: job API returned non-JSON"):
        JobApiClient(lambda_client=GarbledLambda(), function_name="api").check_status("j")


def test_a_run_out_of_time_claims_nothing_more_and_leaves_jobs_for_the_next_run(store, api, new_job) -> None:
    import time

    jobs = [new_job({"completionPolls": 1}) for _ in range(3)]
    sfn = RecordingSfn()
    summary = _poller(store, api, sfn).run(deadline=time.monotonic() - 1)
    assert summary["deferred"] == 3 and summary["succeeded"] == 0 and not sfn.sends
    for job_id, _ in jobs:
        record = store.get(job_id)
        assert record is not None and record["status"] == "POLLING" and record["attemptCount"] == 0
    assert _poller(store, api, sfn).run()["succeeded"] == 3


def test_handler_derives_the_deadline_from_the_lambda_context(store, api, new_job) -> None:
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 1_000  # 1 s left: half of it is kept as a margin, still time to start

    new_job({"completionPolls": 1})
    summary = lambda_handler({}, Context(), poller=_poller(store, api, RecordingSfn()))
    assert summary["succeeded"] == 1 and summary["deferred"] == 0


def test_each_run_emits_its_counts_as_embedded_metrics(store, api, new_job, capfd, monkeypatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "poller-fn")
    jobs = [new_job({"completionPolls": 1}) for _ in range(3)]
    sfn = RecordingSfn(fail_for={jobs[0][1]})
    lambda_handler({}, None, poller=_poller(store, api, sfn))
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert len(lines) == 1
    emf = lines[0]
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "CallbackPattern/Poller" and directive["Dimensions"] == [["FunctionName"]]
    assert {m["Name"] for m in directive["Metrics"]} >= {"JobErrors", "JobsSucceeded"}
    assert (emf["FunctionName"], emf["JobErrors"], emf["JobsSucceeded"]) == ("poller-fn", 1, 2)
