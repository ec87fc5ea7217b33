"""simulated_api: job lifecycle on a moto DynamoDB table."""

from __future__ import annotations

import random

import pytest

from simulated_api.handler import JobStore, lambda_handler
from simulated_api.logic import InvalidRequest, JobNotFound, plan_job, status_after_poll


def test_new_job_completes_after_its_completion_polls(job_store: JobStore) -> None:
    created = lambda_handler(
        {"action": "CREATE_JOB", "simulate": {"completionPolls": 3}, "payload": {"order": 7}}, None, store=job_store
    )
    assert created["status"] == "IN_PROGRESS" and created["completionPolls"] == 3
    check = {"action": "CHECK_STATUS", "jobId": created["jobId"]}
    first, second, third = (lambda_handler(check, None, store=job_store) for _ in range(3))
    assert [first["status"], second["status"], third["status"]] == ["IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]
    assert third["pollCount"] == 3
    assert third["result"]["payload"] == {"order": 7}
    assert third["result"]["jobId"] == created["jobId"]
    # A finished job keeps reporting the same end, with the same result.
    again = lambda_handler(check, None, store=job_store)
    assert again["status"] == "COMPLETED" and again["result"] == third["result"] and again["pollCount"] == 4


def test_failing_job_reports_failed_with_a_reason(job_store: JobStore) -> None:
    created = job_store.create({"outcome": "FAIL", "completionPolls": 1}, None)
    report = job_store.check(created["jobId"])
    assert report["status"] == "FAILED"
    assert "simulated failure" in report["error"]


def test_never_finishing_job_stays_in_progress(job_store: JobStore) -> None:
    created = job_store.create({"outcome": "NEVER_FINISH", "completionPolls": 1}, None)
    assert [job_store.check(created["jobId"])["status"] for _ in range(5)] == ["IN_PROGRESS"] * 5


def test_default_completion_polls_fall_in_the_configured_range(job_store: JobStore) -> None:
    polls = {job_store.create(None, None)["completionPolls"] for _ in range(40)}
    assert polls <= {2, 3} and len(polls) == 2


def test_unknown_job_raises_job_not_found(job_store: JobStore) -> None:
    with pytest.raises(JobNotFound, match="no job with id 'nope'"):
        lambda_handler({"action": "CHECK_STATUS", "jobId": "nope"}, None, store=job_store)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"action": "DELETE"}, "unknown action 'DELETE'"),
        ({}, "unknown action None"),
        ({"action": "CHECK_STATUS"}, "non-empty string jobId"),
        ({"action": "CREATE_JOB", "simulate": {"outcome": "MAYBE"}}, "simulate.outcome must be one of"),
        ({"action": "CREATE_JOB", "payload": [1]}, "payload must be an object"),
    ],
)
def test_bad_requests_are_rejected_with_a_readable_error(job_store: JobStore, event: dict, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        lambda_handler(event, None, store=job_store)


def test_plan_job_and_status_rules_without_aws() -> None:
    job = plan_job({"outcome": "SUCCEED"}, None, polls_min=5, polls_max=5, rng=random.Random(1))
    assert job.completion_polls == 5 and job.payload == {}
    assert status_after_poll(outcome="SUCCEED", poll_count=4, completion_polls=5) == "IN_PROGRESS"
    assert status_after_poll(outcome="SUCCEED", poll_count=5, completion_polls=5) == "COMPLETED"
    assert status_after_poll(outcome="FAIL", poll_count=5, completion_polls=5) == "FAILED"
    assert status_after_poll(outcome="NEVER_FINISH", poll_count=500, completion_polls=5) == "IN_PROGRESS"


def test_payload_with_decimal_numbers_round_trips(job_store: JobStore) -> None:
    created = job_store.create({"completionPolls": 1}, {"price": 1.5, "items": [1, 2.25], "ok": True})
    report = job_store.check(created["jobId"])
    assert report["status"] == "COMPLETED"
    assert report["result"]["payload"] == {"price": 1.5, "items": [1, 2.25], "ok": True}


def test_a_check_that_loses_the_race_to_finish_reports_the_recorded_end(job_store: JobStore) -> None:
    created = job_store.create({"completionPolls": 1}, None)
    job_id = created["jobId"]
    first = job_store.check(job_id)
    # Make the job look unfinished again, so the next check tries to record an end; a concurrent
    # check records its own end between that check's read and its write.
    table = job_store.table
    table.update_item(
        Key={"jobId": job_id},
        UpdateExpression="SET #s = :p",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":p": "IN_PROGRESS"},
    )
    original_update = table.update_item
    calls = {"n": 0}

    def racing_update(**kwargs):  # the other check records its end between our read and our write
        calls["n"] += 1
        if calls["n"] == 2:
            original_update(
                Key={"jobId": job_id},
                UpdateExpression="SET #s = :c",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":c": "COMPLETED"},
            )
        return original_update(**kwargs)

    object.__setattr__(job_store, "table", _TableProxy(table, racing_update))
    second = job_store.check(job_id)
    assert second["status"] == "COMPLETED"
    assert second["result"]["finishedAt"] == first["result"]["finishedAt"]  # the first end, not a new one


class _TableProxy:
    def __init__(self, table, update_item) -> None:
        self._table, self.update_item = table, update_item

    def __getattr__(self, name):
        return getattr(self._table, name)
