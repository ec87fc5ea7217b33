"""poller: exactly one callback per job, and a record that says how the execution ended, through
failed writes, lost replies, crashes, refused tokens and retried tasks (the SENDING state and
reconciliation with DescribeExecution). Every test counts the Step Functions calls."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from common.job_api import JobApiError
from common.log import token_fingerprint
from common.records import TokenRecord, epoch_ms
from common.schedule import shard_of
from create_job.handler import JobCreator
from poller.service import Poller
from poller.store import JobTables
from simulated_api.handler import JobsTable

from .conftest import CLAIM_SECONDS, INTERVAL_SECONDS, SCHEDULE, InProcessLambda, Job
from .fakes import Clock, Crash, FakeStepFunctions, fail_dynamodb_calls, is_decision, is_finish, is_release

# A job, what the poller sends for it, and the record's final status.
OUTCOMES = [
    pytest.param({"completionPolls": 1}, {}, "SendTaskSuccess", "COMPLETED", id="success"),
    pytest.param({"outcome": "FAIL", "completionPolls": 1}, {}, "SendTaskFailure", "FAILED", id="job-failed"),
    pytest.param({"outcome": "NEVER_FINISH"}, {"max_attempts": 1}, "SendTaskFailure", "MAX_ATTEMPTS", id="max"),
]


def _retry_task(creator: JobCreator, sfn: FakeStepFunctions, job: Job, simulate: dict[str, Any]) -> str:
    """The state machine retries the job's task: a new token, and create_job runs again."""
    new_token = "retried-" + job.token
    sfn.start_task(job.execution_arn, new_token)
    creator.handle({"taskToken": new_token, "executionId": job.execution_arn, "input": {"simulate": simulate}})
    return new_token


def _record(store: JobTables, job: Job) -> dict[str, Any]:
    """The job's token record and poll state (while it has one), as one view."""
    record = store.get(job.job_id)
    assert record is not None
    return record


def _assert_final(store: JobTables, job: Job, status: str) -> dict[str, Any]:
    """The record is final and out of the poller's way: its poll state (due time, claim) is deleted,
    its stored decision dropped."""
    record = _record(store, job)
    assert record["status"] == status
    assert store.poll_state(job.job_id) is None
    assert {"dueShard", "dueAt", "claimOwner", "decision", "sending"}.isdisjoint(record)
    assert isinstance(record["updatedAt"], str) and record["updatedAt"] >= record["createdAt"]  # when it ended
    due = store.due(shard=shard_of(job.job_id, SCHEDULE.shards), now_ms=2**53)
    assert job.job_id not in {d.job_id for d in due}
    return record


# A released job is due at the next scheduled run, 0.9 interval after the run started; a claim (with
# the jitter off) sets the next poll a whole interval after the claim: the two cannot be confused.
RELEASE_DELAY_MS = int(0.9 * INTERVAL_SECONDS * 1000)


class NoJitter(random.Random):
    """The poller's random source with the jitter off: a claim sets the next poll one full interval on."""

    def random(self) -> float:
        return 0.0


def _assert_released(store: JobTables, job: Job, run_between: tuple[int, int]) -> dict[str, Any]:
    """The run gave the job back (after a failed step) for the next run, rather than leaving it
    to its claim (the next poll, a full interval on) or to a sending lease."""
    state = store.poll_state(job.job_id)
    assert state is not None
    before_ms, after_ms = run_between
    assert before_ms + RELEASE_DELAY_MS <= state["dueAt"] <= after_ms + RELEASE_DELAY_MS
    return dict(state)


# The send went through, the record did not say so.


@pytest.mark.parametrize(("simulate", "options", "operation", "final_status"), OUTCOMES)
def test_a_failed_final_write_after_the_send_is_settled_without_a_second_send(
    poller: Poller,
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    clock: Clock,
    api_lambda: InProcessLambda,
    simulate: dict[str, Any],
    options: dict[str, Any],
    operation: str,
    final_status: str,
) -> None:
    job = new_job(simulate, **options)
    failed_finishes = fail_dynamodb_calls(store.client, "TransactWriteItems", is_finish, times=1)
    before_ms = epoch_ms(clock())
    first = poller.run()
    assert first["errors"] == 1 and len(failed_finishes) == 1
    assert sfn.count(operation, accepted=True) == 1
    record = _record(store, job)
    assert record["status"] == "SENDING" and record["decision"]["finalStatus"] == final_status
    # Released: due at the next run, not held for the sending lease; still marked as sending.
    assert _assert_released(store, job, (before_ms, epoch_ms(clock())))["sending"] is True

    clock.advance(INTERVAL_SECONDS)
    second = poller.run()
    assert second["reconciled"] == 1 and second["errors"] == 0
    assert len(sfn.sends()) == 1  # no second send
    assert sfn.count("DescribeExecution") == 1
    assert len(api_lambda.actions("CHECK_STATUS")) == 1 and api_lambda.actions("CANCEL_JOB") == []
    assert _assert_final(store, job, final_status)["finalDetail"] == "found SENDING; execution " + (
        "SUCCEEDED" if operation == "SendTaskSuccess" else "FAILED"
    )


def test_with_the_table_down_after_the_send_the_claim_lapses_and_the_next_run_settles(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    """Neither the final write nor the release gets through: the lease (the claim) brings the job back."""
    job = new_job({"completionPolls": 1})
    finishes = fail_dynamodb_calls(store.client, "TransactWriteItems", is_finish, times=1)
    releases = fail_dynamodb_calls(store.client, "UpdateItem", is_release, times=1)
    before_ms = epoch_ms(clock())
    assert poller.run()["errors"] == 1 and (len(finishes), len(releases)) == (1, 1)
    record = _record(store, job)
    assert record["status"] == "SENDING" and "claimOwner" in record and record["sending"] is True
    # Held by the sending lease the stored decision took.
    assert before_ms + CLAIM_SECONDS * 1000 <= record["dueAt"] <= epoch_ms(clock()) + CLAIM_SECONDS * 1000
    clock.advance(CLAIM_SECONDS - 10)
    assert poller.run()["checked"] == 0  # the lease still runs
    clock.advance(11)
    assert poller.run()["reconciled"] == 1
    assert len(sfn.sends()) == 1
    _assert_final(store, job, "COMPLETED")


def test_a_lost_reply_is_settled_from_the_execution_not_sent_twice(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    job = new_job({"completionPolls": 1})
    sfn.inject("SendTaskSuccess", "lost_reply")  # the service took it; the answer never came
    assert poller.run()["errors"] == 1
    assert sfn.executions[job.execution_arn].status == "SUCCEEDED"
    assert _record(store, job)["status"] == "SENDING"
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["reconciled"] == 1
    assert len(sfn.sends()) == 1
    _assert_final(store, job, "COMPLETED")


def test_a_send_that_never_arrived_is_resent_once(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    job = new_job({"outcome": "FAIL", "completionPolls": 1})
    sfn.inject("SendTaskFailure", "unreachable")
    assert poller.run()["errors"] == 1
    assert sfn.executions[job.execution_arn].status == "RUNNING"
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["failed"] == 1
    first, second = sfn.sends()
    assert (first.accepted, second.accepted) == (False, True) and first.params == second.params
    _assert_final(store, job, "FAILED")


# The poller died between storing the decision and sending it.


class CrashAfterStoringTheDecision(JobTables):
    def store_decision(self, record: TokenRecord, **kwargs: Any) -> bool:
        stored = super().store_decision(record, **kwargs)
        raise Crash("the poller died after storing its decision")
        return stored  # pragma: no cover


def _crashing(store: JobTables) -> JobTables:
    return CrashAfterStoringTheDecision(
        client=store.client, tokens_table=store.tokens_table, poll_table=store.poll_table, due_index=store.due_index
    )


def test_a_crash_before_the_send_is_resent_from_the_stored_decision_once(
    make_poller: Callable[..., Poller],
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    clock: Clock,
    api_lambda: InProcessLambda,
) -> None:
    job = new_job({"completionPolls": 1})
    before_ms = epoch_ms(clock())
    with pytest.raises(Crash):
        make_poller(tables=_crashing(store)).run()
    record = _record(store, job)
    assert record["status"] == "SENDING" and record["sending"] is True and sfn.calls == []
    stored_output = record["decision"]["output"]
    # The dead poller's sending lease holds the job: not due before it ends.
    assert record["dueAt"] >= before_ms + CLAIM_SECONDS * 1000
    shard = shard_of(job.job_id, SCHEDULE.shards)
    assert list(store.due(shard=shard, now_ms=before_ms + (CLAIM_SECONDS - 1) * 1000)) == []
    # (and its shard lease too: a run now finds the shard busy)
    assert make_poller().run()["checked"] == 0
    clock.advance(CLAIM_SECONDS + 1)
    assert make_poller().run()["succeeded"] == 1
    assert [c.operation for c in sfn.calls] == ["DescribeExecution", "SendTaskSuccess"]
    assert sfn.sends()[0].params == {"taskToken": job.token, "output": stored_output}  # the stored decision
    assert len(api_lambda.actions("CHECK_STATUS")) == 1  # not decided again
    _assert_final(store, job, "COMPLETED")
    clock.advance(INTERVAL_SECONDS)
    assert make_poller().run()["checked"] == 0 and len(sfn.sends()) == 1


def test_a_task_retried_while_sending_gets_the_stored_decision_on_its_new_token(
    make_poller: Callable[..., Poller],
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    creator: JobCreator,
    store: JobTables,
    clock: Clock,
) -> None:
    job = new_job({"completionPolls": 1})
    with pytest.raises(Crash):
        make_poller(tables=_crashing(store)).run()
    new_token = _retry_task(creator, sfn, job, {"completionPolls": 1})
    record = _record(store, job)
    assert (record["status"], record["sending"], record["taskToken"]) == ("SENDING", True, new_token)
    clock.advance(CLAIM_SECONDS + 1)
    assert make_poller().run()["succeeded"] == 1
    assert [c.token for c in sfn.sends()] == [new_token]
    _assert_final(store, job, "COMPLETED")


# The execution refused the token: the record takes the execution's real end.


@pytest.mark.parametrize(
    ("end", "error", "final_status", "count"),
    [
        ("ABORTED", None, "CANCELLED", "cancelled"),
        ("TIMED_OUT", None, "EXPIRED", "expired"),
        ("FAILED", "JobTimedOut", "EXPIRED", "expired"),
        (None, None, "EXPIRED", "expired"),  # gone from history: ExecutionDoesNotExist
    ],
)
def test_a_refused_heartbeat_ends_the_record_as_the_execution_ended_and_cancels_the_job(
    poller: Poller,
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    jobs_table: JobsTable,
    api_lambda: InProcessLambda,
    end: str | None,
    error: str | None,
    final_status: str,
    count: str,
) -> None:
    job = new_job({"completionPolls": 5})
    if end is None:
        sfn.forget_execution(job.execution_arn)
    else:
        sfn.end_execution(job.execution_arn, end, error)
    summary = poller.run()
    assert summary[count] == 1 and summary["errors"] == 0
    assert sfn.count("SendTaskHeartbeat") == 1 and sfn.count("SendTaskHeartbeat", accepted=True) == 0
    assert sfn.sends() == []
    assert [c["jobId"] for c in api_lambda.actions("CANCEL_JOB")] == [job.job_id]
    assert jobs_table.table.get_item(Key={"jobId": job.job_id})["Item"]["status"] == "CANCELLED"
    record = _assert_final(store, job, final_status)
    assert record["finalDetail"].startswith(f"TaskTimedOut on HEARTBEAT; execution {end or 'not found'}")


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_refused_success_of_a_stopped_execution_cancels_the_record_not_the_finished_job(
    poller: Poller,
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    jobs_table: JobsTable,
    code: str,
) -> None:
    job = new_job({"completionPolls": 1})
    sfn.end_execution(job.execution_arn, "ABORTED")
    sfn.inject("SendTaskSuccess", "refuse", code=code)
    assert poller.run()["cancelled"] == 1
    assert len(sfn.sends()) == 1
    record = _assert_final(store, job, "CANCELLED")
    assert record["finalDetail"] == f"{code} on SUCCEED; execution ABORTED"
    assert jobs_table.table.get_item(Key={"jobId": job.job_id})["Item"]["status"] == "COMPLETED"  # keeps its end


def test_a_run_that_ended_before_a_redrive_is_settled_expired_not_by_the_redriven_run(
    poller: Poller,
    creator: JobCreator,
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    jobs_table: JobsTable,
    clock: Clock,
) -> None:
    """Run 0 timed out while the poller was down and the execution was redriven: run 1 waits on a
    new job. Run 0's record must not stay pending (its token is refused while DescribeExecution
    says RUNNING, about run 1), nor later take run 1's end: it ended without a callback."""
    old = new_job({"completionPolls": 5})
    sfn.end_execution(old.execution_arn, "TIMED_OUT")
    sfn.redrive(old.execution_arn, "run-1-token")
    run1 = creator.handle(
        {
            "taskToken": "run-1-token",
            "executionId": old.execution_arn,
            "redriveCount": 1,
            "input": {"simulate": {"completionPolls": 2}},
        }
    )
    assert run1["jobId"] != old.job_id
    clock.advance(INTERVAL_SECONDS)
    summary = poller.run()
    assert summary["expired"] == 1 and summary["heartbeats"] == 1  # run 0 settled, run 1 heartbeated
    record = _assert_final(store, old, "EXPIRED")
    assert record["finalDetail"] == "TaskTimedOut on HEARTBEAT; execution REDRIVEN"
    assert jobs_table.table.get_item(Key={"jobId": old.job_id})["Item"]["status"] == "CANCELLED"
    assert _record(store, Job(run1["jobId"], "run-1-token", old.execution_arn))["status"] == "POLLING"

    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["succeeded"] == 1  # run 1's job, on run 1's token
    assert [(c.token, c.accepted) for c in sfn.sends()] == [("run-1-token", True)]
    assert sfn.executions[old.execution_arn].status == "SUCCEEDED"


def test_a_stopped_execution_of_a_job_the_api_lost_is_still_settled(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables, jobs_table: JobsTable
) -> None:
    """Nothing to cancel at the API is no reason to keep the record pending (and erroring) forever."""
    job = new_job({"completionPolls": 5})
    jobs_table.table.delete_item(Key={"jobId": job.job_id})
    sfn.end_execution(job.execution_arn, "ABORTED")
    summary = poller.run()
    assert summary["cancelled"] == 1 and summary["errors"] == 0
    assert [c.accepted for c in sfn.sends()] == [False]  # the JobFailed callback was refused
    _assert_final(store, job, "CANCELLED")


def test_a_refused_cancel_keeps_the_record_pending_until_the_job_is_cancelled(
    poller: Poller,
    make_poller: Callable[..., Poller],
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    clock: Clock,
    api: Any,
) -> None:
    job = new_job({"completionPolls": 5})
    sfn.end_execution(job.execution_arn, "ABORTED")

    class CancelFails:
        def check_status(self, job_id: str) -> Any:
            return api.check_status(job_id)

        def cancel_job(self, job_id: str) -> Any:
            raise ConnectionError("job API unreachable")

    assert make_poller(api=CancelFails()).run()["errors"] == 1
    assert _record(store, job)["status"] == "POLLING"
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["cancelled"] == 1
    _assert_final(store, job, "CANCELLED")


def test_a_token_replaced_during_the_check_is_the_one_heartbeated(
    make_poller: Callable[..., Poller],
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    creator: JobCreator,
    store: JobTables,
    api: Any,
) -> None:
    """The task is retried while the poller checks the job: the poller reads the token only when it
    needs it, after the check, so the new token gets the heartbeat and the old one nothing."""
    job = new_job({"completionPolls": 3})
    new_tokens: list[str] = []

    class RetryDuringCheck:
        def check_status(self, job_id: str) -> Any:
            new_tokens.append(_retry_task(creator, sfn, job, {"completionPolls": 3}))
            return api.check_status(job_id)

    summary = make_poller(api=RetryDuringCheck()).run()
    [new_token] = new_tokens
    assert (summary["heartbeats"], summary["skipped"], summary["errors"]) == (1, 0, 0)
    assert sfn.count("SendTaskHeartbeat", token=new_token, accepted=True) == 1
    assert job.token not in sfn.tokens_called()
    assert _record(store, job)["status"] == "POLLING"


def _retry_before(
    client: Any, operation: str, retry: Callable[[], str], when: Callable[[dict[str, Any]], bool] = bool
) -> list[str]:
    """Retry the task once, just before the client's first call of operation (whose parameters
    match `when`); returns the new token when it has happened."""
    new_tokens: list[str] = []

    def retry_once(params: dict[str, Any], **_: Any) -> None:
        if not new_tokens and when(params):
            new_tokens.append(retry())

    client.meta.events.register(f"before-parameter-build.{operation}", retry_once)
    return new_tokens


def test_a_token_replaced_by_a_retried_task_is_released_and_the_new_token_polled(
    make_poller: Callable[..., Poller],
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    creator: JobCreator,
    store: JobTables,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The task is retried after the poller read the token, before its heartbeat: the heartbeat to the
    old token is refused, the execution still runs: the record stays pending, released, and the new
    token gets the next call. Nothing is wrong: it is logged as information, not as a warning."""
    job = new_job({"completionPolls": 3})
    new_tokens = _retry_before(
        sfn.client, "sfn.SendTaskHeartbeat", lambda: _retry_task(creator, sfn, job, {"completionPolls": 3})
    )
    before_ms = epoch_ms(clock())
    summary = make_poller(rng=NoJitter()).run()
    [new_token] = new_tokens
    assert summary["skipped"] == 1 and summary["errors"] == 0
    assert sfn.count("SendTaskHeartbeat", token=job.token, accepted=False) == 1
    record = _record(store, job)
    assert record["status"] == "POLLING" and record["taskToken"] == new_token
    _assert_released(store, job, (before_ms, epoch_ms(clock())))  # released, not left to the claim
    lines = [line for line in _log_lines(capsys.readouterr().out, job) if line["message"] != "poller run finished"]
    [line] = [line for line in lines if "detail" in line]
    assert (line["level"], line["message"]) == ("INFO", "token replaced by a retried task; the new one is polled")
    assert [line for line in lines if line["level"] != "INFO"] == []
    clock.advance(INTERVAL_SECONDS)
    assert make_poller().run()["heartbeats"] == 1
    assert sfn.count("SendTaskHeartbeat", token=new_token, accepted=True) == 1
    assert sfn.count("SendTaskHeartbeat", token=job.token) == 1  # the old token was not tried again


def test_a_sending_record_of_an_execution_stopped_meanwhile_is_cancelled_not_resent(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    job = new_job({"completionPolls": 1})
    sfn.inject("SendTaskSuccess", "unreachable")
    poller.run()
    sfn.end_execution(job.execution_arn, "ABORTED")
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["cancelled"] == 1
    assert [c.accepted for c in sfn.sends()] == [False]
    record = _assert_final(store, job, "CANCELLED")
    assert (record["finalDetail"], record["attemptCount"]) == ("found SENDING; execution ABORTED", 2)


def test_a_poller_holding_a_replaced_token_sends_it_nothing(
    make_poller: Callable[..., Poller],
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    creator: JobCreator,
    store: JobTables,
    clock: Clock,
    api: Any,
) -> None:
    """The job completes while the task is retried, after the poller read the old token: it may not
    store or send its decision (the decision's write is conditional on the token); the next run
    answers the new one."""
    job = new_job({"completionPolls": 1})
    new_tokens = _retry_before(
        store.client,
        "dynamodb.TransactWriteItems",
        lambda: _retry_task(creator, sfn, job, {"completionPolls": 1}),
        when=is_decision,
    )
    assert make_poller().run()["skipped"] == 1
    [new_token] = new_tokens
    assert sfn.calls == []
    record = _record(store, job)
    assert record["status"] == "POLLING" and record["taskToken"] == new_token
    clock.advance(CLAIM_SECONDS + 1)
    assert make_poller().run()["succeeded"] == 1
    assert [c.token for c in sfn.sends()] == [new_token]
    _assert_final(store, job, "COMPLETED")


def _take_claim(store: JobTables, job_id: str) -> None:
    """Another poller ("poller-other") holds the job's claim from now on."""
    store.client.update_item(
        TableName=store.poll_table,
        Key={"jobId": {"S": job_id}},
        UpdateExpression="SET claimOwner = :other",
        ExpressionAttributeValues={":other": {"S": "poller-other"}},
    )


def _log_lines(out: str, job: Job) -> list[dict[str, Any]]:
    """The poller's JSON log lines about job."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith('{"level"')]
    return [line for line in lines if line.get("service") == "poller" and line.get("jobId") == job.job_id]


def test_a_refused_failure_of_an_execution_that_already_took_it_is_settled_as_sent(
    poller: Poller,
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    jobs_table: JobsTable,
    api_lambda: InProcessLambda,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The execution ended with our own error before this send (an earlier send whose reply was lost):
    the refused send is settled from the execution's end, FAILED, and the job is not cancelled."""
    job = new_job({"outcome": "FAIL", "completionPolls": 1})
    sfn.end_execution(job.execution_arn, "FAILED", "JobFailed")
    summary = poller.run()
    assert (summary["reconciled"], summary["expired"], summary["errors"]) == (1, 0, 0)
    assert [c.accepted for c in sfn.sends()] == [False]
    assert api_lambda.actions("CANCEL_JOB") == []
    record = _assert_final(store, job, "FAILED")
    assert record["finalDetail"] == "TaskTimedOut on FAIL; execution FAILED"
    # Settled as planned: no warning, no error.
    assert [line["message"] for line in _log_lines(capsys.readouterr().out, job) if line["level"] != "INFO"] == []


def test_a_running_execution_that_refuses_its_token_keeps_the_job_pending(
    poller: Poller,
    make_poller: Callable[..., Poller],
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not a replaced token, not an ended execution: nothing to settle. The job is released, keeps
    its attempt, is polled again at the next run, and the refusal is logged as a warning."""
    job = new_job({"completionPolls": 2})
    heartbeat_before = store.poll_state(job.job_id)["heartbeatAt"]  # type: ignore[index]
    sfn.inject("SendTaskHeartbeat", "refuse", code="InvalidToken")
    before_ms = epoch_ms(clock())
    summary = make_poller(rng=NoJitter()).run()
    assert (summary["skipped"], summary["heartbeats"], summary["errors"]) == (1, 0, 0)
    record = _record(store, job)
    assert (record["status"], record["attemptCount"], record["taskToken"]) == ("POLLING", 1, job.token)
    state = _assert_released(store, job, (before_ms, epoch_ms(clock())))
    assert state["heartbeatAt"] == heartbeat_before  # the refused heartbeat is owed again
    [line] = [line for line in _log_lines(capsys.readouterr().out, job) if line["level"] == "WARNING"]
    assert line["message"] == "execution still runs but refused its token"
    assert line["detail"] == "InvalidToken on HEARTBEAT; execution RUNNING"
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["succeeded"] == 1
    _assert_final(store, job, "COMPLETED")


def test_a_poller_that_lost_its_claim_while_settling_leaves_the_record_to_the_other(
    make_poller: Callable[..., Poller],
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    clock: Clock,
    api: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A's cancel at the API outlasts its lease; B takes the job and settles it; A's final write is
    refused (its claim is gone) and A says so, without overwriting what B wrote."""
    job = new_job({"completionPolls": 5})
    sfn.end_execution(job.execution_arn, "ABORTED")
    b_summaries: list[dict[str, Any]] = []

    class SlowCancel:
        def check_status(self, job_id: str) -> Any:
            return api.check_status(job_id)

        def cancel_job(self, job_id: str) -> Any:
            clock.advance(CLAIM_SECONDS + 1)
            b_summaries.append(make_poller().run())
            return api.cancel_job(job_id)

    a_summary = make_poller(api=SlowCancel()).run()
    assert b_summaries[0]["cancelled"] == 1 and a_summary["cancelled"] == 1 and a_summary["errors"] == 0
    record = _assert_final(store, job, "CANCELLED")
    assert record["finalDetail"] == "TaskTimedOut on HEARTBEAT; execution ABORTED"
    errors = [line for line in _log_lines(capsys.readouterr().out, job) if line["level"] == "ERROR"]
    assert [line["message"] for line in errors] == ["claim lost before the final status was written"]


def test_a_poller_that_lost_its_claim_after_its_send_says_so_and_leaves_the_record_to_the_next(
    poller: Poller,
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The send went out, then another poller took the claim (this one's lease lapsed): the final
    write is refused; the run counts the success it sent, logs the lost claim with the job and token,
    and the next run settles the record from the execution's end without sending again."""
    job = new_job({"completionPolls": 1})
    finish = JobTables.finish

    def claim_taken_first(tables: JobTables, record: TokenRecord, **kwargs: Any) -> bool:
        _take_claim(tables, job.job_id)
        return finish(tables, record, **kwargs)

    monkeypatch.setattr(JobTables, "finish", claim_taken_first)
    summary = poller.run()
    assert (summary["succeeded"], summary["errors"]) == (1, 0)
    assert _record(store, job)["status"] == "SENDING"  # the other poller's to settle
    errors = [line for line in _log_lines(capsys.readouterr().out, job) if line["level"] == "ERROR"]
    assert [(e["message"], e["token"], e["action"]) for e in errors] == [
        ("claim lost before the final status was written", token_fingerprint(job.token), "SUCCEED")
    ]
    monkeypatch.setattr(JobTables, "finish", finish)
    clock.advance(CLAIM_SECONDS + 1)
    assert poller.run()["reconciled"] == 1
    _assert_final(store, job, "COMPLETED")
    assert sfn.count("SendTaskSuccess", token=job.token) == 1


def test_a_release_after_the_claim_lapsed_leaves_the_job_to_its_new_holder_and_says_so(
    poller: Poller,
    new_job: Callable[..., Job],
    store: JobTables,
    api: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The status check fails after another poller took the claim: giving the job back is refused
    (conditional on the claim), the new holder's claim stays, and the warning names the job."""
    job = new_job({"completionPolls": 5})

    class LapsingApi:
        def check_status(self, job_id: str) -> Any:
            _take_claim(store, job_id)
            raise JobApiError("ServiceUnavailable", "the job API is down")

        def cancel_job(self, job_id: str) -> Any:
            return api.cancel_job(job_id)

    summary = dataclasses.replace(poller, api=LapsingApi()).run()  # type: ignore[arg-type]
    assert (summary["checked"], summary["errors"]) == (1, 1)
    state = store.poll_state(job.job_id)
    assert state is not None and state["claimOwner"] == "poller-other"
    lines = _log_lines(capsys.readouterr().out, job)
    assert [(line["level"], line["message"]) for line in lines] == [
        ("WARNING", "status check failed; heartbeat only"),
        ("WARNING", "claim lapsed before release"),
    ]


def test_a_failed_send_still_sends_the_heartbeat_the_poll_owes(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    """Sends that keep failing must not let the task time out on its heartbeat: the owed heartbeat
    goes out after the failed send, and stays recorded (the release does not put the old one back)."""
    job = new_job({"completionPolls": 1})
    sfn.inject("SendTaskSuccess", "refuse", code="ServiceUnavailable")
    started_ms = epoch_ms(clock())
    assert poller.run()["errors"] == 1
    assert [c.operation for c in sfn.calls if c.token == job.token] == ["SendTaskSuccess", "SendTaskHeartbeat"]
    state = store.poll_state(job.job_id)
    assert state is not None and state["heartbeatAt"] >= started_ms and state["sending"] is True
    clock.advance(60)
    assert poller.run()["succeeded"] == 1
    assert sfn.count("SendTaskSuccess", token=job.token, accepted=True) == 1


def test_a_send_that_never_reached_the_service_still_sends_the_owed_heartbeat(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    """The same for a connection-level failure (no answer at all): the heartbeat the poll owes goes
    out after it, the job is given back counted as an error, and the next run sends the decision once."""
    job = new_job({"completionPolls": 1})
    sfn.inject("SendTaskSuccess", "unreachable")
    started_ms = epoch_ms(clock())
    summary = poller.run()
    ended_ms = epoch_ms(clock())  # the clock runs in real time: the run started between the two
    assert (summary["errors"], summary["succeeded"]) == (1, 0)
    calls = [(c.operation, c.accepted) for c in sfn.calls if c.token == job.token]
    assert calls == [("SendTaskSuccess", False), ("SendTaskHeartbeat", True)]
    state = store.poll_state(job.job_id)
    assert state is not None and state["heartbeatAt"] >= started_ms and state["sending"] is True
    # Given back: due at the next run (90% of an interval on), not when the decision's lease ends.
    given_back_in = int(SCHEDULE.min_initial * 900)
    assert started_ms + given_back_in <= state["dueAt"] <= ended_ms + given_back_in < started_ms + CLAIM_SECONDS * 1000
    clock.advance(60)
    assert poller.run()["succeeded"] == 1
    assert sfn.count("SendTaskSuccess", token=job.token, accepted=True) == 1


def test_the_final_record_keeps_the_number_of_polls_the_job_took(
    poller: Poller, new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    """attemptCount moves from the poll state (deleted at the end) to the final record."""
    job = new_job({"completionPolls": 3})
    for _ in range(3):
        poller.run()
        clock.advance(60)
    record = _assert_final(store, job, "COMPLETED")
    assert record["attemptCount"] == 3


def test_when_the_heartbeat_after_a_failed_send_fails_too_the_old_one_is_put_back(
    poller: Poller,
    sfn: FakeStepFunctions,
    new_job: Callable[..., Job],
    store: JobTables,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The send fails, and so does the heartbeat the poll owes: the release puts the last heartbeat
    that went out back (the next poll owes it again), and the warning names the job and the error."""
    job = new_job({"completionPolls": 1})
    last_heartbeat = store.poll_state(job.job_id)["heartbeatAt"]  # type: ignore[index]
    sfn.inject("SendTaskSuccess", "refuse", code="ServiceUnavailable")
    sfn.inject("SendTaskHeartbeat", "refuse", code="InternalFailure")
    assert poller.run()["errors"] == 1
    assert [c.operation for c in sfn.calls if c.token == job.token] == ["SendTaskSuccess", "SendTaskHeartbeat"]
    state = store.poll_state(job.job_id)
    assert state is not None and state["heartbeatAt"] == last_heartbeat and state["sending"] is True
    warnings = [line for line in _log_lines(capsys.readouterr().out, job) if line["level"] == "WARNING"]
    [warning] = [line for line in warnings if line["message"] == "heartbeat after a failed send failed too"]
    assert "InternalFailure" in warning["error"] and warning["token"] == token_fingerprint(job.token)
    clock.advance(60)
    summary = poller.run()
    assert (summary["succeeded"], summary["heartbeats"]) == (1, 0)
    assert sfn.count("SendTaskSuccess", token=job.token, accepted=True) == 1


def test_a_sending_job_whose_token_record_is_gone_leaves_the_index(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    """A decision was stored, its send failed, and then the token record went (deleted by hand,
    expired): the next run has nothing to resend; the poll state goes, and nothing is sent."""
    job = new_job({"completionPolls": 1})
    sfn.inject("SendTaskSuccess", "unreachable")
    assert poller.run()["errors"] == 1
    store.client.delete_item(TableName=store.tokens_table, Key={"jobId": {"S": job.job_id}})
    clock.advance(CLAIM_SECONDS + 1)
    summary = poller.run()
    assert (summary["checked"], summary["skipped"], summary["errors"]) == (1, 1, 0)
    assert store.poll_state(job.job_id) is None
    assert [c.accepted for c in sfn.sends()] == [False]


def test_a_sending_job_whose_record_is_polling_again_is_polled_afresh(
    poller: Poller, sfn: FakeStepFunctions, new_job: Callable[..., Job], store: JobTables, clock: Clock
) -> None:
    """The poll state says a decision is being sent, the token record says POLLING (a task retried
    after the decision): the stored decision is not resent; the job is checked again and answered."""
    job = new_job({"completionPolls": 1})
    sfn.inject("SendTaskSuccess", "unreachable")
    assert poller.run()["errors"] == 1
    store.client.update_item(
        TableName=store.tokens_table,
        Key={"jobId": {"S": job.job_id}},
        UpdateExpression="SET #s = :polling REMOVE decision",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":polling": {"S": "POLLING"}},
    )
    clock.advance(CLAIM_SECONDS + 1)
    summary = poller.run()
    assert (summary["checked"], summary["succeeded"], summary["errors"]) == (1, 1, 0)
    assert [c.accepted for c in sfn.sends()] == [False, True]
    _assert_final(store, job, "COMPLETED")
