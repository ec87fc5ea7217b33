"""poller: one job's way from POLLING to its final status on moto DynamoDB; exact Step Functions
calls with Stubber, counted calls with the Step Functions double."""

from __future__ import annotations

import dataclasses
import io
import json
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from common.job_api import JobApiClient, JobApiError
from common.records import PollState, epoch_ms
from poller.service import Poller, UnknownJob
from poller.store import JobTables
from simulated_api.handler import JobsTable

from .conftest import INTERVAL_SECONDS, SCHEDULE, InProcessLambda, Job
from .fakes import Clock, FakeStepFunctions, fail_dynamodb_calls, is_release, session


def _pending_fields(record: Mapping[str, object]) -> set[str]:
    return {"dueShard", "dueAt", "claimOwner", "decision"} & set(record)


class _ResultNaming:
    """Matches SendTaskSuccess output: the job result as JSON, naming the job."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and json.loads(other)["jobId"] == self.job_id


@pytest.fixture
def plain_sfn(aws: None) -> Any:
    """A Step Functions client for Stubber (the double answers its own client)."""
    return session().client("stepfunctions")


def test_completed_job_sends_task_success_with_the_result(
    make_poller: Callable[..., Poller], plain_sfn: Any, new_job: Callable[..., Job], store: JobTables
) -> None:
    job = new_job({"completionPolls": 1})
    with Stubber(plain_sfn) as stub:
        stub.add_response("send_task_success", {}, {"taskToken": job.token, "output": _ResultNaming(job.job_id)})
        summary = make_poller(sfn=plain_sfn).run()
        stub.assert_no_pending_responses()
    assert summary["succeeded"] == 1 and summary["checked"] == 1
    record = store.get(job.job_id)
    assert record is not None
    assert record["status"] == "COMPLETED"
    assert _pending_fields(record) == set()  # out of the due index, claim ended, stored output dropped
    assert store.poll_state(job.job_id) is None  # the poll state goes with the job


def test_failed_job_sends_task_failure_job_failed(
    make_poller: Callable[..., Poller], plain_sfn: Any, new_job: Callable[..., Job], store: JobTables
) -> None:
    job = new_job({"outcome": "FAIL", "completionPolls": 1})
    with Stubber(plain_sfn) as stub:
        stub.add_response(
            "send_task_failure",
            {},
            {
                "taskToken": job.token,
                "error": "JobFailed",
                "cause": f"simulated failure of job {job.job_id} after 1 status checks",
            },
        )
        assert make_poller(sfn=plain_sfn).run()["failed"] == 1
        stub.assert_no_pending_responses()
    record = store.get(job.job_id)
    assert record is not None and record["status"] == "FAILED" and _pending_fields(record) == set()


def test_running_job_gets_a_heartbeat_and_comes_due_at_the_next_run(
    make_poller: Callable[..., Poller], plain_sfn: Any, new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    job = new_job({"completionPolls": 3})
    poller = make_poller(sfn=plain_sfn)
    started_ms = epoch_ms(clock())
    with Stubber(plain_sfn) as stub:
        stub.add_response("send_task_heartbeat", {}, {"taskToken": job.token})
        assert poller.run()["heartbeats"] == 1
        stub.assert_no_pending_responses()
        record = store.get(job.job_id)
        assert record is not None
        assert record["status"] == "POLLING" and record["attemptCount"] == 1
        # The claim set the next poll, one wait (the interval, shortened by up to 10%) on: it is the
        # claim's lease too, so the job needs no second write.
        assert (
            started_ms + 0.9 * INTERVAL_SECONDS * 1000 <= record["dueAt"] <= started_ms + INTERVAL_SECONDS * 1000 + 500
        )
        assert poller.run()["checked"] == 0  # not due again within the same interval
        clock.advance(INTERVAL_SECONDS)
        stub.add_response("send_task_heartbeat", {}, {"taskToken": job.token})
        assert poller.run()["heartbeats"] == 1
        stub.assert_no_pending_responses()


def test_attempts_exhausted_sends_max_attempts_exceeded_once(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    job = new_job({"outcome": "NEVER_FINISH"}, max_attempts=2)
    assert poller.run()["heartbeats"] == 1
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["failed"] == 1
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["checked"] == 0  # final: no longer pending, nothing more is sent
    [send] = sfn.sends()
    assert send.params == {
        "taskToken": job.token,
        "error": "MaxAttemptsExceeded",
        "cause": f"job {job.job_id} still IN_PROGRESS after 2 poll attempts (limit 2)",
    }
    record = store.get(job.job_id)
    assert record is not None and record["status"] == "MAX_ATTEMPTS" and record["finalDetail"] == "MaxAttemptsExceeded"


def test_a_refused_send_is_resent_from_the_stored_decision_without_a_new_status_check(
    poller: Poller,
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    clock: Clock,
    api_lambda: InProcessLambda,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = new_job({"completionPolls": 1})
    sfn.inject("SendTaskSuccess", "refuse", code="ThrottlingException")
    assert poller.run()["throttled"] == 1
    record = store.get(job.job_id)
    assert record is not None and record["status"] == "SENDING" and record["sending"] is True
    assert record["attemptCount"] == 1  # the API answered: the attempt counts (only an unanswered check is refunded)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"level"')]
    [warning] = [line for line in lines if line["level"] != "INFO"]  # a transient failure, not an error
    assert (warning["level"], warning["jobId"], warning["error"]) == ("WARNING", job.job_id, "ThrottlingException")
    stored_output = record["decision"]["output"]
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["succeeded"] == 1
    assert [(c.accepted, c.params["output"]) for c in sfn.sends()] == [(False, stored_output), (True, stored_output)]
    assert len(api_lambda.actions("CHECK_STATUS")) == 1  # the decision was not taken again
    assert store.get(job.job_id)["status"] == "COMPLETED"  # type: ignore[index]


def test_one_bad_job_never_stops_the_batch(
    make_poller: Callable[..., Poller],
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    clock: Clock,
) -> None:
    # One worker thread: five jobs finishing at once on several threads trip moto now and then (its
    # TransactWriteItems deep-copies the table while another thread writes it: "dictionary changed
    # size during iteration"), which made this test flaky on a busy machine.
    poller = make_poller(concurrency=1)
    jobs = [new_job({"completionPolls": 1}) for _ in range(5)]
    bad = jobs[2]
    sfn.inject("SendTaskSuccess", "bug", token=bad.token)
    summary = poller.run()
    assert summary["succeeded"] == 4 and summary["errors"] == 1 and summary["checked"] == 5
    record = store.get(bad.job_id)
    assert record is not None and record["status"] == "SENDING"
    assert record["dueAt"] <= epoch_ms(clock()) + 0.9 * INTERVAL_SECONDS * 1000  # released to the next run
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["succeeded"] == 1
    assert {job.token: sfn.count("SendTaskSuccess", token=job.token, accepted=True) for job in jobs} == {
        job.token: 1 for job in jobs
    }


def test_an_unexpected_error_after_the_claim_releases_it_at_once(
    make_poller: Callable[..., Poller], sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables
) -> None:
    job = new_job({"completionPolls": 1})

    class BrokenApi:
        def check_status(self, job_id: str) -> Any:
            raise KeyError("something nobody expected")

    assert make_poller(api=BrokenApi()).run()["errors"] == 1
    record = store.get(job.job_id)
    assert record is not None and record["status"] == "POLLING" and record["attemptCount"] == 1
    assert make_poller().run()["checked"] == 0  # released to the next interval, not locked for a lease
    assert sfn.calls == []


def test_poll_one_job_by_id_even_before_it_is_due(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables
) -> None:
    job = new_job({"completionPolls": 2})
    other = new_job({"completionPolls": 1})
    assert poller.run(job.job_id)["heartbeats"] == 1
    assert poller.run(job.job_id)["succeeded"] == 1  # released, not due yet, but asked for by id
    assert sfn.tokens_called() == {job.token}
    assert store.get(other.job_id)["status"] == "POLLING"  # type: ignore[index]
    assert poller.run(job.job_id)["skipped"] == 1  # final already
    with pytest.raises(UnknownJob, match="no job 'missing' in the task-token table"):
        poller.run("missing")


def test_poll_by_id_leaves_a_job_whose_decision_another_poller_is_sending(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    job = new_job({"completionPolls": 1})
    now_ms = epoch_ms(clock())
    claim = {"now_ms": now_ms, "next_due_ms": now_ms + 60_000, "interval_ms": None, "heartbeat": False}
    assert store.claim(job.job_id, owner="other", **claim) is not None
    record = store.token_record(job.job_id)
    assert record is not None
    decision: Any = {"action": "SUCCEED", "finalStatus": "COMPLETED", "output": "{}"}
    assert store.store_decision(
        record, owner="other", decision=decision, updated_at="t", lease_until_ms=now_ms + 60_000
    )
    assert poller.run(job.job_id)["skipped"] == 1 and sfn.calls == []


def test_the_claim_of_a_crashed_poller_lapses(new_job: Callable[..., Job], store: JobTables, clock: Clock) -> None:
    job = new_job({"completionPolls": 1})
    now_ms = epoch_ms(clock())

    def claim(owner: str, at_ms: int) -> PollState | None:
        return store.claim(
            job.job_id, owner=owner, now_ms=at_ms, next_due_ms=at_ms + 60_000, interval_ms=None, heartbeat=False
        )

    assert claim("crashed", now_ms) is not None
    assert claim("other", now_ms + 59_999) is None
    assert list(store.due(shard="0", now_ms=now_ms + 59_999)) == []  # a claimed job is not due
    assert [due.job_id for due in store.due(shard="0", now_ms=now_ms + 60_000)] == [job.job_id]
    reclaimed = claim("other", now_ms + 60_000)
    assert reclaimed is not None and reclaimed["attemptCount"] == 2 and reclaimed["claimOwner"] == "other"


def test_the_task_token_is_never_logged_whole(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], capfd: pytest.CaptureFixture[str]
) -> None:
    job = new_job({"completionPolls": 1})
    sfn.inject("SendTaskSuccess", "refuse", code="ServiceUnavailable")
    poller.run()
    logs = capfd.readouterr().out
    assert "tok-" in logs and job.token not in logs and job.token[:40] not in logs


def test_non_json_answer_from_the_job_api_is_a_readable_error() -> None:
    class GarbledLambda:
        def invoke(self, **_: Any) -> dict[str, Any]:
            return {"StatusCode": 200, "Payload": io.BytesIO(b"<html>502</html>")}

    with pytest.raises(JobApiError, match="BadResponse: job API returned non-JSON"):
        JobApiClient(lambda_client=GarbledLambda(), function_name="api").check_status("j")


# What the job API reports, as the execution sees it.


def test_a_result_too_large_with_the_input_fails_the_job_with_result_too_large(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables
) -> None:
    """The result (which echoes the 131 kB payload) fits SendTaskSuccess alone, not the state with the input."""
    job = new_job({"completionPolls": 1}, payload={"blob": "x" * 131_000})
    input_bytes = store.get(job.job_id)["inputBytes"]  # type: ignore[index]
    assert poller.run()["failed"] == 1
    [send] = sfn.sends()
    assert send.operation == "SendTaskFailure" and send.params["error"] == "ResultTooLarge"
    size = re.search(r"\(([\d,]+) bytes\) exceeds the 262,144-byte limit", send.params["cause"])
    assert size is not None
    total = int(size[1].replace(",", ""))
    assert total > 262_144 and total - input_bytes - len(',"jobResult":') < 262_144  # the result alone fits
    assert sfn.executions[job.execution_arn].error == "ResultTooLarge"
    record = store.get(job.job_id)
    assert record is not None and record["status"] == "FAILED" and record["finalDetail"] == "ResultTooLarge"


def test_a_long_failure_reason_is_cut_to_the_cause_limit(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], jobs_table: JobsTable, store: JobTables
) -> None:
    job = new_job({"completionPolls": 5})
    jobs_table.table.update_item(
        Key={"jobId": job.job_id},
        UpdateExpression="SET #s = :failed, #e = :reason",
        ExpressionAttributeNames={"#s": "status", "#e": "error"},
        ExpressionAttributeValues={":failed": "FAILED", ":reason": "r" * 40_000},
    )
    assert poller.run()["failed"] == 1
    [send] = sfn.sends()
    assert send.accepted and send.params["error"] == "JobFailed"
    assert len(send.params["cause"]) == 32_768 and send.params["cause"].endswith("...[cut]")
    assert store.get(job.job_id)["status"] == "FAILED"  # type: ignore[index]


def test_a_job_cancelled_at_the_api_fails_the_execution(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], jobs_table: JobsTable, store: JobTables
) -> None:
    job = new_job({"completionPolls": 5})
    jobs_table.cancel(job.job_id)
    assert poller.run()["failed"] == 1
    assert [c.params for c in sfn.sends()] == [
        {"taskToken": job.token, "error": "JobFailed", "cause": f"job {job.job_id} was cancelled at the job API"}
    ]
    assert store.get(job.job_id)["status"] == "FAILED"  # type: ignore[index]


def test_a_job_unknown_to_the_api_fails_the_execution(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], jobs_table: JobsTable, store: JobTables
) -> None:
    job = new_job({"completionPolls": 5})
    jobs_table.table.delete_item(Key={"jobId": job.job_id})
    assert poller.run()["failed"] == 1
    [send] = sfn.sends()
    assert send.params["error"] == "JobFailed"
    assert send.params["cause"] == f"job {job.job_id} unknown to the job API: no job with id '{job.job_id}'"
    assert sfn.executions[job.execution_arn].status == "FAILED"
    record = store.get(job.job_id)
    assert record is not None and record["status"] == "FAILED" and _pending_fields(record) == set()


def test_each_status_check_counts_one_attempt(
    poller: Poller, new_job: Callable[..., Job], store: JobTables, clock: Clock, api_lambda: InProcessLambda
) -> None:
    job = new_job({"completionPolls": 3}, max_attempts=3)
    for expected in (1, 2):
        assert poller.run()["heartbeats"] == 1
        assert store.get(job.job_id)["attemptCount"] == expected  # type: ignore[index]
        clock.advance(INTERVAL_SECONDS)
    assert poller.run()["succeeded"] == 1  # completes on its last allowed check
    assert len(api_lambda.actions("CHECK_STATUS")) == 3


def test_a_stubbed_resend_checks_the_execution_first(
    make_poller: Callable[..., Poller],
    plain_sfn: Any,
    new_job: Callable[..., Job],
    clock: Clock,
) -> None:
    """The exact calls of a resend: DescribeExecution of the record's execution, then the stored send."""
    job = new_job({"completionPolls": 1})
    with Stubber(plain_sfn) as stub:
        stub.add_client_error("send_task_success", service_error_code="ServiceUnavailable", http_status_code=503)
        make_poller(sfn=plain_sfn).run()
        clock.advance(INTERVAL_SECONDS)
        stub.add_response(
            "describe_execution",
            {"executionArn": job.execution_arn, "stateMachineArn": "arn:sm", "status": "RUNNING", "startDate": 0},
            {"executionArn": job.execution_arn},
        )
        stub.add_response("send_task_success", {}, {"taskToken": job.token, "output": ANY})
        assert make_poller(sfn=plain_sfn).run()["succeeded"] == 1
        stub.assert_no_pending_responses()


def test_a_job_without_a_result_still_resumes_the_execution(
    make_poller: Callable[..., Poller], sfn: FakeStepFunctions, new_job: Callable[..., Job]
) -> None:
    job = new_job({"completionPolls": 1})

    class NoResultApi:
        def check_status(self, job_id: str) -> Any:
            return {"jobId": job_id, "status": "COMPLETED"}

    assert make_poller(api=NoResultApi()).run()["succeeded"] == 1
    assert [c.params for c in sfn.sends()] == [{"taskToken": job.token, "output": "{}"}]


def test_a_polled_job_is_due_one_jittered_wait_after_its_claim(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The claim sets the next poll: the interval, shortened at random by up to 10% so that jobs
    started together spread out."""
    job = new_job({"completionPolls": 3})
    started = clock()  # a clock that stands still for the run
    assert make_poller(clock=lambda: started, rng=random.Random(7)).run()["heartbeats"] == 1
    wait_ms = int(SCHEDULE.wait(INTERVAL_SECONDS, random.Random(7)) * 1000)
    assert 54_000 <= wait_ms < 60_000
    assert store.get(job.job_id)["dueAt"] == epoch_ms(started) + wait_ms  # type: ignore[index]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"level"')]
    assert [line["message"] for line in lines if line["level"] != "INFO"] == []  # a plain heartbeat: nothing to warn of


def test_a_release_that_does_not_get_through_leaves_the_job_to_its_next_poll(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A step failed and the write that gives the job back for the next run failed too: the job
    comes back at the next poll its claim set, not later."""
    job = new_job({"completionPolls": 3})

    class BrokenApi:
        def check_status(self, job_id: str) -> Any:
            raise KeyError("something nobody expected")

    failed = fail_dynamodb_calls(store.client, "UpdateItem", is_release, times=1)
    started = clock()
    summary = make_poller(api=BrokenApi(), clock=lambda: started).run()
    assert (summary["errors"], len(failed)) == (1, 1)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"level"')]
    errors = [(line["message"], line["jobId"]) for line in lines if line["level"] == "ERROR"]
    assert errors == [
        ("job could not be processed; job stays pending", job.job_id),
        ("could not release the claim; the job comes due on its own", job.job_id),
    ]
    clock.advance(53)
    assert make_poller().run()["checked"] == 0
    clock.advance(INTERVAL_SECONDS - 53)
    assert make_poller().run()["heartbeats"] == 1


def test_a_release_keeps_the_attempt_unless_told_to_refund_it(
    new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    job = new_job({"completionPolls": 3})
    now_ms = epoch_ms(clock())

    def claimed(owner: str) -> str:
        state = store.claim(
            job.job_id, owner=owner, now_ms=now_ms, next_due_ms=now_ms, interval_ms=None, heartbeat=False
        )
        assert state is not None
        return state["jobId"]

    assert store.release(claimed("a"), owner="a", due_ms=now_ms) is True
    assert store.get(job.job_id)["attemptCount"] == 1  # type: ignore[index]
    assert store.release(claimed("b"), owner="b", due_ms=now_ms, refund_attempt=True) is True
    assert store.get(job.job_id)["attemptCount"] == 1  # type: ignore[index]
    assert store.release(claimed("c"), owner="other", due_ms=now_ms) is False  # not the owner


def test_a_job_polled_by_id_keeps_its_back_off_and_its_heartbeat_clock(
    make_poller: Callable[..., Poller], sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables
) -> None:
    """Polled by hand, a job is polled as its due run would: its interval backs off from the one
    stored, and a heartbeat goes out only if the last one is refresh old (here it is not)."""
    schedule = dataclasses.replace(SCHEDULE, factor=2.0, cap=600.0, heartbeat_refresh=300.0)
    job = new_job({"completionPolls": 5})
    before = store.poll_state(job.job_id)
    assert before is not None and before["intervalMs"] == 60_000
    summary = make_poller(schedule=schedule).run(job.job_id)
    assert (summary["checked"], summary["polled"], summary["heartbeats"], summary["errors"]) == (1, 1, 0, 0)
    after = store.poll_state(job.job_id)
    assert after is not None and after["intervalMs"] == 120_000
    assert after["heartbeatAt"] == before["heartbeatAt"] and after["attemptCount"] == 1
    assert sfn.calls == []


def test_a_poll_state_without_a_schedule_or_a_heartbeat_clock_starts_both(
    make_poller: Callable[..., Poller],
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    poll_table: Any,
) -> None:
    """A poll state with no interval and no heartbeat yet (as an older create_job wrote it): the
    first poll takes the schedule's first interval, and owes a heartbeat at once. If that heartbeat
    cannot go out, the job is given back with no heartbeat recorded (0), owed again."""
    schedule = dataclasses.replace(SCHEDULE, factor=2.0, cap=600.0, heartbeat_refresh=300.0)
    job = new_job({"completionPolls": 5})
    poll_table.update_item(Key={"jobId": job.job_id}, UpdateExpression="REMOVE intervalMs, heartbeatAt")
    sfn.inject("SendTaskHeartbeat", "refuse", code="ThrottlingException")
    summary = make_poller(schedule=schedule).run(job.job_id)
    assert (summary["checked"], summary["throttled"], summary["heartbeats"]) == (1, 1, 0)
    state = store.poll_state(job.job_id)
    assert state is not None and state["intervalMs"] == 60_000 and state["heartbeatAt"] == 0
    assert make_poller(schedule=schedule).run(job.job_id)["heartbeats"] == 1
    assert sfn.count("SendTaskHeartbeat", token=job.token, accepted=True) == 1


def test_a_poll_state_is_forgotten_only_by_the_run_that_holds_it(
    new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    job = new_job({"completionPolls": 1})
    now_ms = epoch_ms(clock())
    claim = {"now_ms": now_ms, "next_due_ms": now_ms + 60_000, "interval_ms": None, "heartbeat": False}
    assert store.claim(job.job_id, owner="holder", **claim) is not None
    assert store.forget(job.job_id, owner="another") is False
    assert store.poll_state(job.job_id) is not None
    assert store.forget(job.job_id, owner="holder") is True
    assert store.poll_state(job.job_id) is None
    assert store.token_record(job.job_id) is not None  # the token record is not the poll state's to delete


def test_polling_a_shard_lease_by_id_says_there_is_no_such_job(poller: Poller, new_job: Callable[..., Job]) -> None:
    new_job({"completionPolls": 3})
    poller.run()  # takes and gives back the lease item "shard#0"
    with pytest.raises(UnknownJob, match="no job 'shard#0' in the task-token table"):
        poller.run("shard#0")
