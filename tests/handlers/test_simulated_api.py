"""simulated_api: job lifecycle, idempotent creation, cancellation and injected faults on moto DynamoDB."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

import simulated_api.handler as simulated_api_handler
from common.config import ConfigurationError
from simulated_api.handler import JobsTable, lambda_handler
from simulated_api.logic import (
    Faults,
    IdempotencyConflict,
    InvalidRequest,
    JobNotFound,
    ServiceUnavailable,
    plan_job,
    status_after_poll,
)

from .fakes import session

KEY = "a" * 64


def _create(jobs: JobsTable, simulate: Any = None, payload: Any = None, key: str = KEY) -> dict[str, Any]:
    return lambda_handler(
        {"action": "CREATE_JOB", "idempotencyKey": key, "simulate": simulate, "payload": payload}, None, jobs=jobs
    )


def _check(jobs: JobsTable, job_id: str) -> dict[str, Any]:
    return lambda_handler({"action": "CHECK_STATUS", "jobId": job_id}, None, jobs=jobs)


def _all_jobs(jobs: JobsTable) -> list[dict[str, Any]]:
    return jobs.table.scan()["Items"]


def test_a_completed_job_hands_back_its_result(jobs_table: JobsTable) -> None:
    created = _create(jobs_table, {"completionPolls": 2}, {"order": 7})
    _check(jobs_table, created["jobId"])
    report = _check(jobs_table, created["jobId"])
    result = report.pop("result")
    assert report == {"jobId": created["jobId"], "status": "COMPLETED", "pollCount": 2, "completionPolls": 2}
    assert result == {
        "jobId": created["jobId"],
        "message": "job finished after 2 status checks",
        "finishedAt": result["finishedAt"],
        "payload": {"order": 7},
    }
    assert result["finishedAt"].endswith("Z")


def test_a_job_that_ends_records_when(jobs_table: JobsTable, monkeypatch: pytest.MonkeyPatch) -> None:
    """The item's updatedAt moves to the end (an operator reads how long a job ran from it)."""
    created = _create(jobs_table, {"completionPolls": 1})
    ended = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    monkeypatch.setattr(simulated_api_handler, "utc_now", lambda: ended)
    assert _check(jobs_table, created["jobId"])["status"] == "COMPLETED"
    item = jobs_table.table.get_item(Key={"jobId": created["jobId"]})["Item"]
    assert item["updatedAt"] == "2030-01-02T03:04:05.678Z" and "updatedat" not in item


def test_a_cancelled_job_reports_only_its_end(jobs_table: JobsTable) -> None:
    created = _create(jobs_table, {"completionPolls": 3})
    cancelled = lambda_handler({"action": "CANCEL_JOB", "jobId": created["jobId"]}, None, jobs=jobs_table)
    job_id = created["jobId"]
    assert cancelled == {"jobId": job_id, "status": "CANCELLED", "error": f"job {job_id} was cancelled"}


def test_every_read_of_a_job_is_consistent(ddb: Any) -> None:
    """A status check or a cancel right after a write must see that write (DynamoDB reads are
    eventually consistent unless asked otherwise)."""
    jobs = JobsTable(table=session().resource("dynamodb").Table("Jobs"), polls_min=2, polls_max=3)  # its own client
    reads: list[dict[str, Any]] = []
    jobs.table.meta.client.meta.events.register(
        "before-parameter-build.dynamodb.GetItem", lambda params, **_: reads.append(params)
    )
    created = _create(jobs, {"completionPolls": 1})
    _create(jobs, {"completionPolls": 1})  # the retry reads the job it started
    jobs.cancel(created["jobId"])  # reads it, then its end
    with pytest.raises(JobNotFound):
        jobs.cancel("nope")
    assert len(reads) == 4 and all(params.get("ConsistentRead") is True for params in reads)


def test_new_job_completes_after_its_completion_polls(jobs_table: JobsTable) -> None:
    created = _create(jobs_table, {"completionPolls": 3}, {"order": 7})
    assert created["status"] == "IN_PROGRESS" and created["completionPolls"] == 3 and created["created"] is True
    first, second, third = (_check(jobs_table, created["jobId"]) for _ in range(3))
    assert [first["status"], second["status"], third["status"]] == ["IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]
    assert third["pollCount"] == 3
    assert third["result"]["payload"] == {"order": 7}
    assert third["result"]["jobId"] == created["jobId"]
    # A finished job keeps reporting the same end, with the same result.
    again = _check(jobs_table, created["jobId"])
    assert again["status"] == "COMPLETED" and again["result"] == third["result"] and again["pollCount"] == 4


def test_numbers_in_a_result_come_back_as_the_json_they_went_in_as(jobs_table: JobsTable) -> None:
    """DynamoDB stores every number as a Decimal: whole numbers come back as ints (7, not 7.0), the
    rest as floats, so the result the poller sends is the JSON the execution passed in."""
    created = _create(jobs_table, {"completionPolls": 1}, {"order": 7, "weight": 2.5, "items": [1, 0.5]})
    report = _check(jobs_table, created["jobId"])
    assert json.dumps(report["result"]["payload"], sort_keys=True) == '{"items": [1, 0.5], "order": 7, "weight": 2.5}'


def test_the_same_idempotency_key_gives_back_the_same_job(jobs_table: JobsTable) -> None:
    """A retried CREATE_JOB starts nothing new: same id, the stored plan (not a new random one)."""
    first = _create(jobs_table, {"outcome": "SUCCEED"}, {"n": 1})
    _check(jobs_table, first["jobId"])
    retries = [_create(jobs_table, {"outcome": "SUCCEED"}, {"n": 1}) for _ in range(5)]
    assert {r["jobId"] for r in retries} == {first["jobId"]}
    assert {r["completionPolls"] for r in retries} == {first["completionPolls"]}
    assert all(r["created"] is False for r in retries)
    assert len(_all_jobs(jobs_table)) == 1
    assert int(_all_jobs(jobs_table)[0]["pollCount"]) == 1  # the retry did not reset the job


def test_a_retry_with_the_payloads_keys_in_another_order_is_the_same_request(jobs_table: JobsTable) -> None:
    first = _create(jobs_table, {"outcome": "SUCCEED", "completionPolls": 2}, {"a": 1, "b": {"c": 2, "d": 3}})
    retry = _create(jobs_table, {"completionPolls": 2, "outcome": "SUCCEED"}, {"b": {"d": 3, "c": 2}, "a": 1})
    assert retry["jobId"] == first["jobId"] and retry["created"] is False


def test_another_idempotency_key_starts_another_job(jobs_table: JobsTable) -> None:
    first = _create(jobs_table, key="a" * 64)
    second = _create(jobs_table, key="b" * 64)
    assert first["jobId"] != second["jobId"] and len(_all_jobs(jobs_table)) == 2


@pytest.mark.parametrize(
    ("simulate", "payload"),
    [({"outcome": "FAIL"}, {"n": 1}), ({"outcome": "SUCCEED"}, {"n": 2}), ({"completionPolls": 2}, {"n": 1})],
)
def test_a_different_request_under_a_used_key_is_an_idempotency_conflict(
    jobs_table: JobsTable, simulate: dict[str, Any], payload: dict[str, Any]
) -> None:
    first = _create(jobs_table, {"outcome": "SUCCEED"}, {"n": 1})
    with pytest.raises(IdempotencyConflict, match=f"was used for a different request \\(job {first['jobId']}\\)"):
        _create(jobs_table, simulate, payload)
    assert len(_all_jobs(jobs_table)) == 1 and _all_jobs(jobs_table)[0]["outcome"] == "SUCCEED"


def test_a_new_job_is_stored_whole(jobs_table: JobsTable, monkeypatch: pytest.MonkeyPatch) -> None:
    started = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    monkeypatch.setattr(simulated_api_handler, "utc_now", lambda: started)
    created = _create(jobs_table, {"outcome": "FAIL", "completionPolls": 3}, {"n": 1}, key="key-1")
    (item,) = _all_jobs(jobs_table)
    assert item == {
        "jobId": created["jobId"],
        "idempotencyKey": "key-1",
        "requestHash": item["requestHash"],
        "status": "IN_PROGRESS",
        "outcome": "FAIL",
        "pollCount": 0,
        "completionPolls": 3,
        "payload": {"n": 1},
        "createdAt": "2030-01-02T03:04:05.678Z",
        "updatedAt": "2030-01-02T03:04:05.678Z",
    }
    assert len(item["requestHash"]) == 64


@pytest.mark.parametrize("key", ["k", "k" * 256])
def test_an_idempotency_key_of_1_to_256_characters_is_taken(jobs_table: JobsTable, key: str) -> None:
    assert _create(jobs_table, key=key)["created"] is True


@pytest.mark.parametrize("key", [None, "", 7, "k" * 257])
def test_create_job_needs_an_idempotency_key(jobs_table: JobsTable, key: Any) -> None:
    with pytest.raises(InvalidRequest, match="CREATE_JOB needs an idempotencyKey"):
        lambda_handler({"action": "CREATE_JOB", "idempotencyKey": key}, None, jobs=jobs_table)
    assert _all_jobs(jobs_table) == []


def test_failing_job_reports_failed_with_a_reason(jobs_table: JobsTable) -> None:
    created = jobs_table.create(KEY, {"outcome": "FAIL", "completionPolls": 1}, None)
    report = jobs_table.check(created["jobId"])
    assert report["status"] == "FAILED"
    assert "simulated failure" in report["error"]


def test_never_finishing_job_stays_in_progress(jobs_table: JobsTable) -> None:
    created = jobs_table.create(KEY, {"outcome": "NEVER_FINISH", "completionPolls": 1}, None)
    assert [jobs_table.check(created["jobId"])["status"] for _ in range(5)] == ["IN_PROGRESS"] * 5


def test_default_completion_polls_fall_in_the_configured_range(jobs_table: JobsTable) -> None:
    polls = {jobs_table.create(f"key-{i}", None, None)["completionPolls"] for i in range(40)}
    assert polls <= {2, 3} and len(polls) == 2


def test_cancel_stops_a_running_job_and_every_later_check_reports_it(jobs_table: JobsTable) -> None:
    created = jobs_table.create(KEY, {"completionPolls": 2}, None)
    cancelled = lambda_handler({"action": "CANCEL_JOB", "jobId": created["jobId"]}, None, jobs=jobs_table)
    assert cancelled["status"] == "CANCELLED" and "was cancelled" in cancelled["error"]
    # Checked past its completion polls, it stays cancelled: it never completes.
    reports = [jobs_table.check(created["jobId"]) for _ in range(3)]
    assert {r["status"] for r in reports} == {"CANCELLED"} and "result" not in reports[-1]


def test_cancel_keeps_the_end_of_a_job_that_already_ended(jobs_table: JobsTable) -> None:
    created = jobs_table.create(KEY, {"completionPolls": 1}, None)
    finished = jobs_table.check(created["jobId"])
    after = jobs_table.cancel(created["jobId"])
    assert after["status"] == "COMPLETED" and after["result"] == finished["result"]


@pytest.mark.parametrize("action", ["CHECK_STATUS", "CANCEL_JOB"])
def test_unknown_job_raises_job_not_found(jobs_table: JobsTable, action: str) -> None:
    with pytest.raises(JobNotFound, match="no job with id 'nope'"):
        lambda_handler({"action": action, "jobId": "nope"}, None, jobs=jobs_table)
    assert _all_jobs(jobs_table) == []  # a check of an unknown id creates nothing


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"action": "DELETE"}, "unknown action 'DELETE': use one of CREATE_JOB, CHECK_STATUS, CANCEL_JOB"),
        ({}, "unknown action None"),
        ({"action": "CHECK_STATUS"}, "CHECK_STATUS needs a non-empty string jobId"),
        ({"action": "CANCEL_JOB", "jobId": ""}, "CANCEL_JOB needs a non-empty string jobId"),
        ({"action": "CREATE_JOB", "idempotencyKey": KEY, "simulate": {"outcome": "MAYBE"}}, "simulate.outcome must"),
        ({"action": "CREATE_JOB", "idempotencyKey": KEY, "payload": [1]}, "payload must be an object"),
    ],
)
def test_bad_requests_are_rejected_with_a_readable_error(jobs_table: JobsTable, event: dict, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        lambda_handler(event, None, jobs=jobs_table)


def test_an_injected_outage_fails_status_checks_without_counting_them(
    jobs_table: JobsTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _create(jobs_table, {"completionPolls": 1})
    monkeypatch.setenv("SIMULATED_FAULTS", json.dumps({"checkStatus": "unavailable"}))
    for _ in range(3):
        with pytest.raises(ServiceUnavailable, match="injected outage"):
            _check(jobs_table, created["jobId"])
    # Creating and cancelling still work during the outage.
    assert _create(jobs_table, key="other")["created"] is True
    monkeypatch.delenv("SIMULATED_FAULTS")
    report = _check(jobs_table, created["jobId"])
    assert report["status"] == "COMPLETED" and report["pollCount"] == 1


def test_an_injected_create_delay_sleeps_only_after_starting_a_new_job(
    jobs_table: JobsTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(simulated_api_handler, "time", SimpleNamespace(sleep=sleeps.append))
    monkeypatch.setenv("SIMULATED_FAULTS", json.dumps({"createDelaySeconds": 20}))
    first = _create(jobs_table)
    assert sleeps == [20.0] and len(_all_jobs(jobs_table)) == 1  # the job exists before the delay
    assert _create(jobs_table)["jobId"] == first["jobId"]
    assert sleeps == [20.0]  # a retry finds the job at once


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "SIMULATED_FAULTS is not JSON"),
        ('{"checkStatus": "slow"}', "checkStatus must be 'unavailable', got 'slow'"),
        ('{"createDelaySeconds": 901}', "createDelaySeconds must be 0..900, got 901"),
        ('{"createDelaySeconds": true}', "createDelaySeconds must be 0..900, got True"),
        ('{"explode": 1}', r"unknown fault\(s\) explode"),
    ],
)
def test_bad_fault_settings_are_rejected_with_a_readable_error(raw: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        Faults.parse(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[]", "SIMULATED_FAULTS: unknown fault(s) ?"),
        ('"checkStatus"', "SIMULATED_FAULTS: unknown fault(s) ?"),
        ('{"b": 1, "a": 2, "checkStatus": "unavailable"}', "SIMULATED_FAULTS: unknown fault(s) a, b"),
        ("x" * 150, f"SIMULATED_FAULTS is not JSON: {'x' * 100!r}"),
        ('{"createDelaySeconds": -0.5}', "SIMULATED_FAULTS: createDelaySeconds must be 0..900, got -0.5"),
    ],
)
def test_fault_settings_errors_name_the_setting_whole(raw: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=f"^{re.escape(message)}$"):
        Faults.parse(raw)


def test_fault_settings_take_the_bounds_of_the_delay() -> None:
    assert Faults.parse('{"createDelaySeconds": 900}') == Faults(create_delay_seconds=900.0)
    assert Faults.parse('{"createDelaySeconds": 0}') == Faults()


@pytest.mark.parametrize(
    ("simulate", "payload", "message"),
    [
        ([1], None, "simulate must be an object"),
        ("SUCCEED", None, "simulate must be an object"),
        ({"outcome": "MAYBE"}, None, "simulate.outcome must be one of SUCCEED, FAIL, NEVER_FINISH, got 'MAYBE'"),
        ({"completionPolls": 0}, None, "simulate.completionPolls must be a positive integer, got 0"),
        ({"completionPolls": True}, None, "simulate.completionPolls must be a positive integer, got True"),
        ({"completionPolls": "3"}, None, "simulate.completionPolls must be a positive integer, got '3'"),
        ({"completionPolls": 2.0}, None, "simulate.completionPolls must be a positive integer, got 2.0"),
        ({}, [1], "payload must be an object"),
    ],
)
def test_a_bad_job_plan_is_named_whole(simulate: Any, payload: Any, message: str) -> None:
    with pytest.raises(InvalidRequest, match=f"^{re.escape(message)}$"):
        plan_job(simulate, payload, polls_min=1, polls_max=1)


def test_a_job_plan_takes_one_completion_poll() -> None:
    assert plan_job({"completionPolls": 1}, {"n": 1}, polls_min=5, polls_max=5).completion_polls == 1


def test_fault_settings_parse() -> None:
    assert Faults.parse(None) == Faults() == Faults.parse("")
    assert Faults.parse('{"checkStatus": "unavailable"}') == Faults(check_unavailable=True)
    assert Faults.parse('{"createDelaySeconds": 2.5}') == Faults(create_delay_seconds=2.5)


def test_plan_job_and_status_rules_without_aws() -> None:
    job = plan_job({"outcome": "SUCCEED"}, None, polls_min=5, polls_max=5, rng=random.Random(1))
    assert job.completion_polls == 5 and job.payload == {}
    assert status_after_poll(outcome="SUCCEED", poll_count=4, completion_polls=5) == "IN_PROGRESS"
    assert status_after_poll(outcome="SUCCEED", poll_count=5, completion_polls=5) == "COMPLETED"
    assert status_after_poll(outcome="FAIL", poll_count=5, completion_polls=5) == "FAILED"
    assert status_after_poll(outcome="NEVER_FINISH", poll_count=500, completion_polls=5) == "IN_PROGRESS"


def test_payload_with_decimal_numbers_round_trips(jobs_table: JobsTable) -> None:
    created = jobs_table.create(KEY, {"completionPolls": 1}, {"price": 1.5, "items": [1, 2.25], "ok": True})
    report = jobs_table.check(created["jobId"])
    assert report["status"] == "COMPLETED"
    assert report["result"]["payload"] == {"price": 1.5, "items": [1, 2.25], "ok": True}


def test_a_check_that_loses_the_race_to_finish_reports_the_recorded_end(jobs_table: JobsTable) -> None:
    created = jobs_table.create(KEY, {"completionPolls": 1}, None)
    job_id = created["jobId"]
    first = jobs_table.check(job_id)
    # Make the job look unfinished again, so the next check tries to record an end; a concurrent
    # check records its own end between that check's read and its write.
    table = jobs_table.table
    table.update_item(
        Key={"jobId": job_id},
        UpdateExpression="SET #s = :p",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":p": "IN_PROGRESS"},
    )
    original_update = table.update_item
    calls = {"n": 0}

    def racing_update(**kwargs: Any) -> Any:  # the other check records its end between our read and our write
        calls["n"] += 1
        if calls["n"] == 2:
            original_update(
                Key={"jobId": job_id},
                UpdateExpression="SET #s = :c",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":c": "COMPLETED"},
            )
        return original_update(**kwargs)

    object.__setattr__(jobs_table, "table", _TableProxy(table, racing_update))
    second = jobs_table.check(job_id)
    assert second["status"] == "COMPLETED"
    assert second["result"]["finishedAt"] == first["result"]["finishedAt"]  # the first end, not a new one


class _TableProxy:
    def __init__(self, table: Any, update_item: Any) -> None:
        self._table, self.update_item = table, update_item

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


# Configuration from the environment.

_ENV = {"JOBS_TABLE_NAME": "Jobs", "COMPLETION_POLLS_MIN": "2", "COMPLETION_POLLS_MAX": "3"}


@pytest.fixture
def fresh_jobs(monkeypatch: pytest.MonkeyPatch, ddb: Any) -> Any:
    monkeypatch.setattr(simulated_api_handler, "_jobs", None)
    monkeypatch.setattr(simulated_api_handler, "boto3", session())  # a cached service model: faster clients
    for name, value in _ENV.items():
        monkeypatch.setenv(name, value)
    return simulated_api_handler._default_jobs


def test_the_default_jobs_table_comes_from_the_environment(fresh_jobs: Any) -> None:
    created = lambda_handler({"action": "CREATE_JOB", "idempotencyKey": KEY}, None)
    assert created["created"] is True and created["completionPolls"] in (2, 3)
    jobs = fresh_jobs()
    assert (jobs.table.name, jobs.polls_min, jobs.polls_max) == ("Jobs", 2, 3)
    assert [item["jobId"] for item in jobs.table.scan()["Items"]] == [created["jobId"]]  # in the named table
    assert fresh_jobs() is jobs  # built once per Lambda container


@pytest.mark.parametrize("name", sorted(_ENV))
def test_a_missing_environment_variable_is_named(fresh_jobs: Any, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.delenv(name)
    with pytest.raises(ConfigurationError, match=f"environment variable {name} is not set"):
        lambda_handler({"action": "CHECK_STATUS", "jobId": "j"}, None)


@pytest.mark.parametrize("name", ["COMPLETION_POLLS_MIN", "COMPLETION_POLLS_MAX"])
def test_completion_polls_of_one_are_taken_zero_is_named(
    fresh_jobs: Any, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "1")
    assert getattr(fresh_jobs(), name.lower().removeprefix("completion_")) == 1
    monkeypatch.setattr(simulated_api_handler, "_jobs", None)
    monkeypatch.setenv(name, "0")
    with pytest.raises(ConfigurationError, match=f"environment variable {name}=0 must be >= 1"):
        fresh_jobs()
