"""common.records and common.clock: the two items a job has, as create_job first writes them, and
the time formats they use (ISO-8601 UTC to the millisecond, epoch milliseconds, TTL epoch seconds)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from common import records
from common.clock import iso, utc_now
from common.records import Attr, PollState, TokenRecord, epoch_ms, expires_at, new_poll_state, new_record, normalise

NOW = datetime(2026, 3, 4, 5, 6, 7, 891_234, tzinfo=UTC)
NOW_MS = 1_772_600_767_891


def test_times_are_written_in_utc_to_the_millisecond() -> None:
    assert iso(NOW) == "2026-03-04T05:06:07.891Z"
    tokyo = timezone(timedelta(hours=9))
    assert iso(NOW.astimezone(tokyo)) == "2026-03-04T05:06:07.891Z"  # the same moment, told in UTC


def test_times_are_written_in_utc_whatever_the_local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert iso(NOW) == "2026-03-04T05:06:07.891Z"  # not the local +09:00
    finally:
        monkeypatch.undo()
        time.tzset()


def test_now_is_aware_and_in_utc() -> None:
    before = datetime.now(UTC)
    now = utc_now()
    assert now.tzinfo is UTC and before <= now <= datetime.now(UTC)


def test_epoch_milliseconds_and_the_time_to_live() -> None:
    assert epoch_ms(NOW) == NOW_MS
    assert expires_at(NOW, 7) == NOW_MS // 1000 + 7 * 86_400
    assert expires_at(NOW, 0) == NOW_MS // 1000


def test_the_token_record_create_job_writes() -> None:
    record = new_record(
        job_id="job-1",
        task_token="tok",
        execution_arn="arn:exec",
        idempotency_key="key",
        max_attempts=5,
        input_bytes=123,
        job_name="nightly",
        now=NOW,
        ttl_days=7,
        retry_count=2,
        redrive_count=1,
    )
    assert record == {
        "jobId": "job-1",
        "taskToken": "tok",
        "retryCount": 2,  # the task attempt the token belongs to
        "redriveCount": 1,  # the execution's run the job belongs to
        "executionArn": "arn:exec",
        "idempotencyKey": "key",
        "status": "POLLING",
        "maxAttempts": 5,
        "inputBytes": 123,
        "jobName": "nightly",
        "createdAt": "2026-03-04T05:06:07.891Z",
        "updatedAt": "2026-03-04T05:06:07.891Z",
        "expiresAt": NOW_MS // 1000 + 7 * 86_400,
    }
    unnamed = new_record(
        job_id="job-1",
        task_token="tok",
        execution_arn="arn:exec",
        idempotency_key="key",
        max_attempts=5,
        input_bytes=123,
        job_name="",
        now=NOW,
        ttl_days=7,
    )
    assert "jobName" not in unnamed


def test_the_poll_state_create_job_writes() -> None:
    state = new_poll_state(
        job_id="job-1",
        shard="3",
        first_wait_ms=55_000,
        interval_ms=60_000,
        max_attempts=5,
        input_bytes=123,
        now=NOW,
        ttl_days=2,
    )
    assert state == {
        "jobId": "job-1",
        "dueShard": "3",
        "dueAt": NOW_MS + 55_000,
        "intervalMs": 60_000,
        "heartbeatAt": NOW_MS,  # the waiting task has just begun
        "attemptCount": 0,
        "maxAttempts": 5,
        "inputBytes": 123,
        "createdAt": "2026-03-04T05:06:07.891Z",
        "expiresAt": NOW_MS // 1000 + 2 * 86_400,
    }


def test_a_record_read_back_has_its_numbers_as_integers() -> None:
    read = {
        "jobId": "job-1",
        "attemptCount": Decimal(3),
        "maxAttempts": Decimal(5),
        "inputBytes": Decimal(10),
        "expiresAt": Decimal(1),
        "dueAt": Decimal(2),
        "intervalMs": Decimal(60000),
        "heartbeatAt": Decimal(4),
        "status": "POLLING",
    }
    plain = normalise(read)
    assert plain is read
    assert plain == {
        "jobId": "job-1",
        "attemptCount": 3,
        "maxAttempts": 5,
        "inputBytes": 10,
        "expiresAt": 1,
        "dueAt": 2,
        "intervalMs": 60000,
        "heartbeatAt": 4,
        "status": "POLLING",
    }
    assert all(type(plain[key]) is int for key in plain if key not in ("jobId", "status"))
    assert normalise({"jobId": "j"}) == {"jobId": "j"}  # a field it lacks stays absent


def test_every_record_field_has_exactly_one_name_in_records() -> None:
    # callbackctl reads and writes raw items by these names: a field added to a record without a
    # name here, or a name no record has, fails.
    schema = (records.TABLE_KEY, records.DUE_SHARD, records.DUE_AT, records.HEARTBEAT_AT, records.INTERVAL)
    names = [*schema, records.TTL_ATTRIBUTE, *(value for name, value in vars(Attr).items() if name.isupper())]
    assert len(set(names)) == len(names), f"a field is named twice: {sorted(names)}"
    fields = set().union(*(kind.__required_keys__ | kind.__optional_keys__ for kind in (TokenRecord, PollState)))
    assert set(names) == fields
