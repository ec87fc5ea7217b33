"""poller: what a run reports and the edges it decides on: the shard it was given, busy shards, its
shard lease's length, the backlog gauges (due jobs, due lag), a job that fails before its claim,
the heartbeat's exact refresh boundary, a throttled job API, and the records a decision and a
success leave."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from common.clock import iso
from common.job_api import JobApiClient
from common.records import SHARD_LEASE_PREFIX, epoch_ms
from poller.ratelimit import RateLimiter
from poller.service import Poller
from poller.store import JobTables

from .conftest import CLAIM_SECONDS, SCHEDULE, Job
from .fakes import Clock, FakeStepFunctions

TWO_SHARDS = dataclasses.replace(SCHEDULE, shards=2)


@pytest.fixture
def make_poller(make_poller: Callable[..., Poller]) -> Callable[..., Poller]:
    """One worker thread (moto's transactions are not thread-safe; see test_poller_scheduling.py)."""

    def make(**overrides: Any) -> Poller:
        return make_poller(**{"concurrency": 1, **overrides})

    return make


def _move(poll_table: Any, job: Job, **fields: Any) -> None:
    """Set poll-state fields of a job (dueShard, dueAt, heartbeatAt)."""
    poll_table.update_item(
        Key={"jobId": job.job_id},
        UpdateExpression="SET " + ", ".join(f"#f{n} = :v{n}" for n in range(len(fields))),
        ExpressionAttributeNames={f"#f{n}": name for n, name in enumerate(fields)},
        ExpressionAttributeValues={f":v{n}": value for n, value in enumerate(fields.values())},
    )


def test_a_run_given_a_shard_works_that_shard_only(
    make_poller: Callable[..., Poller], new_job: Callable[..., Job], poll_table: Any, sfn: FakeStepFunctions
) -> None:
    first, second = new_job({"completionPolls": 5}), new_job({"completionPolls": 5})
    _move(poll_table, first, dueShard="0")
    _move(poll_table, second, dueShard="1")
    poller = make_poller(schedule=TWO_SHARDS)
    summary = poller.run(shard="1")
    assert (summary["checked"], summary["heartbeats"]) == (1, 1)
    assert [c.params["taskToken"] for c in sfn.calls if c.operation == "SendTaskHeartbeat"] == [second.token]
    summary = poller.run()  # every shard: only the first job is still due
    assert (summary["checked"], summary["heartbeats"]) == (1, 1)
    assert sfn.count("SendTaskHeartbeat", token=first.token) == 1


def test_every_busy_shard_is_counted_and_left_alone(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    poll_table: Any,
    sfn: FakeStepFunctions,
    clock: Clock,
) -> None:
    job = new_job({"completionPolls": 5})
    for shard in ("0", "1"):
        lease = {
            "jobId": SHARD_LEASE_PREFIX + shard,
            "claimOwner": "another-run",
            "leaseUntil": epoch_ms(clock()) + 30_000,
        }
        poll_table.put_item(Item=lease)
    summary = make_poller(schedule=TWO_SHARDS).run()
    assert (summary["busyShards"], summary["checked"], summary["dueJobs"]) == (2, 0, 0)
    assert sfn.calls == [] and poll_table.get_item(Key={"jobId": job.job_id})["Item"]["attemptCount"] == 0


def test_a_run_holds_its_shard_for_the_sending_lease(
    make_poller: Callable[..., Poller], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shard lease lasts the stage's claim time (it outlasts the function's timeout), to the millisecond."""
    leases: list[tuple[int, int]] = []
    lease_shard = JobTables.lease_shard

    def recording(self: JobTables, shard: str, *, owner: str, now_ms: int, until_ms: int) -> bool:
        leases.append((now_ms, until_ms))
        return lease_shard(self, shard, owner=owner, now_ms=now_ms, until_ms=until_ms)

    monkeypatch.setattr(JobTables, "lease_shard", recording)
    make_poller().run()
    [(now_ms, until_ms)] = leases
    assert until_ms - now_ms == CLAIM_SECONDS * 1000


def test_jobs_left_for_the_next_run_still_count_as_due(
    make_poller: Callable[..., Poller], new_job: Callable[..., Job], sfn: FakeStepFunctions
) -> None:
    for _ in range(3):
        new_job({"completionPolls": 5})
    summary = make_poller().run(deadline=time.monotonic() - 1)
    assert (summary["checked"], summary["deferred"], summary["dueJobs"]) == (0, 3, 3)
    assert sfn.calls == []


def test_the_due_lag_is_the_most_overdue_jobs_whole_seconds_over_every_shard(
    make_poller: Callable[..., Poller], new_job: Callable[..., Job], poll_table: Any, clock: Clock
) -> None:
    """Shard 0's job is 100.03 s overdue, shard 1's 10 s: the run reports 100 (whole seconds, the
    largest over the shards it worked, whatever order it worked them in)."""
    late, recent = new_job({"completionPolls": 5}), new_job({"completionPolls": 5})
    frozen = clock()
    now_ms = epoch_ms(frozen)
    _move(poll_table, late, dueShard="0", dueAt=now_ms - 100_030)
    _move(poll_table, recent, dueShard="1", dueAt=now_ms - 10_000)
    summary = make_poller(schedule=TWO_SHARDS, clock=lambda: frozen).run()
    assert summary["checked"] == 2
    assert summary["dueLagSeconds"] == 100 and isinstance(summary["dueLagSeconds"], int)


def test_a_job_whose_claim_fails_counts_as_an_error_and_the_run_goes_on(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    sfn: FakeStepFunctions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken, fine = new_job({"completionPolls": 5}), new_job({"completionPolls": 5})
    claim = JobTables.claim

    def failing(self: JobTables, job_id: str, **kwargs: Any) -> Any:
        if job_id == broken.job_id:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "UpdateItem")
        return claim(self, job_id, **kwargs)

    monkeypatch.setattr(JobTables, "claim", failing)
    summary = make_poller().run()
    assert (summary["checked"], summary["errors"], summary["heartbeats"]) == (2, 1, 1)
    assert sfn.count("SendTaskHeartbeat", token=fine.token) == 1


def test_a_heartbeat_is_owed_exactly_when_the_last_one_is_refresh_old(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    poll_table: Any,
    sfn: FakeStepFunctions,
    clock: Clock,
) -> None:
    """Owed at last heartbeat + refresh to the millisecond (a millisecond before, the job is only polled)."""
    refresh = 300.0
    schedule = dataclasses.replace(SCHEDULE, heartbeat_refresh=refresh)
    early, exact = new_job({"completionPolls": 5}), new_job({"completionPolls": 5})
    frozen = clock()
    now_ms = epoch_ms(frozen)
    for job, last in ((early, now_ms - int(refresh * 1000) + 1), (exact, now_ms - int(refresh * 1000))):
        _move(poll_table, job, heartbeatAt=last)
    summary = make_poller(schedule=schedule, clock=lambda: frozen).run()
    assert (summary["polled"], summary["heartbeats"]) == (1, 1)
    assert (
        sfn.count("SendTaskHeartbeat", token=exact.token) == 1
        and sfn.count("SendTaskHeartbeat", token=early.token) == 0
    )


class _ThrottledLambda:
    """Lambda answering every Invoke with its throttling error (the job API's function at its limit)."""

    def invoke(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")


class _CountingLimiter(RateLimiter):
    def __init__(self) -> None:
        super().__init__(rate_per_second=10_000)
        self.throttles = 0

    def throttled(self) -> None:
        self.throttles += 1
        super().throttled()


def test_a_throttled_status_check_slows_the_job_api_limiter_down(
    make_poller: Callable[..., Poller], new_job: Callable[..., Job], sfn: FakeStepFunctions
) -> None:
    new_job({"completionPolls": 5})
    api_limiter, send_limiter = _CountingLimiter(), _CountingLimiter()
    throttled_api = JobApiClient(lambda_client=_ThrottledLambda(), function_name="simulated-api")
    summary = make_poller(api=throttled_api, api_limiter=api_limiter, send_limiter=send_limiter).run()
    assert (summary["errors"], summary["heartbeats"]) == (1, 1)  # the heartbeat still goes out
    assert (api_limiter.throttles, send_limiter.throttles) == (1, 0)


def test_a_stored_decision_stamps_the_record_with_the_pollers_time(
    make_poller: Callable[..., Poller], new_job: Callable[..., Job], store: JobTables, sfn: FakeStepFunctions
) -> None:
    """The SENDING record (its send failed, so it stays SENDING) says when the decision was taken."""
    job = new_job({"completionPolls": 1})
    frozen = datetime.fromisoformat("2030-01-02T03:04:05.678+00:00")
    sfn.inject("SendTaskSuccess", "refuse", code="ThrottlingException")
    assert make_poller(clock=lambda: frozen).run()["throttled"] == 1
    record = store.get(job.job_id)
    assert record is not None and record["status"] == "SENDING"
    assert record["updatedAt"] == iso(frozen) and "updatedat" not in record


def test_a_success_leaves_an_empty_detail_and_logs_no_error(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = new_job({"completionPolls": 1})
    assert make_poller().run()["succeeded"] == 1
    record = store.get(job.job_id)
    assert record is not None and record["status"] == "COMPLETED" and record["finalDetail"] == ""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"level"')]
    assert [line["message"] for line in lines if line["level"] not in ("INFO", "DEBUG")] == []
