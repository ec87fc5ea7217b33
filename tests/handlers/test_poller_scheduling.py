"""poller: which jobs a run takes, in what order, and what it leaves: the ByDue index, deadlines,
pages, API outages, several pollers."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

import poller.service as poller_service
from common.records import epoch_ms
from poller.service import Poller
from poller.store import JobTables

from .conftest import CLAIM_SECONDS, INTERVAL_SECONDS, Job
from .fakes import Clock, FakeStepFunctions, SmallPages


def _count_queries(store: JobTables) -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = []
    store.client.meta.events.register(
        "before-parameter-build.dynamodb.Query", lambda params, **_: queries.append(dict(params))
    )
    return queries


def _set_due(poll_table: Any, job: Job, due_ms: int) -> None:
    poll_table.update_item(
        Key={"jobId": job.job_id}, UpdateExpression="SET dueAt = :d", ExpressionAttributeValues={":d": due_ms}
    )


def test_the_due_index_lists_pending_due_jobs_oldest_first_across_pages(
    new_job: Callable[..., Job], store: JobTables, poll_table: Any, poller: Poller, clock: Clock
) -> None:
    now_ms = epoch_ms(clock())
    jobs = [new_job({"completionPolls": 5}) for _ in range(7)]
    offsets = [-3_000, -7_000, -1_000, -5_000, -2_000, +60_000, -4_000]  # one not due yet
    for job, offset in zip(jobs, offsets, strict=True):
        _set_due(poll_table, job, now_ms + offset)
    finished = new_job({"completionPolls": 1})
    assert poller.run(finished.job_id)["succeeded"] == 1  # final: leaves the index
    queries = _count_queries(store)
    due = list(store.due(shard="0", now_ms=now_ms, page_size=2))
    by_due = sorted((o, j.job_id) for j, o in zip(jobs, offsets, strict=True) if o <= 0)
    assert [d.job_id for d in due] == [job_id for _, job_id in by_due]
    assert [d.due_ms for d in due] == sorted(now_ms + o for o in offsets if o <= 0)
    # The index carries what a claim needs: the last heartbeat and the current interval.
    assert all(d.heartbeat_ms > 0 and d.interval_ms == INTERVAL_SECONDS * 1000 for d in due)
    # 2 + 2 + 2, then an empty page: a full page always says there may be more.
    assert len(queries) == 4 and all(q["IndexName"] == "ByDue" and q["Limit"] == 2 for q in queries)


def test_a_run_reads_every_page_of_due_jobs(
    make_poller: Callable[..., Poller], new_job: Callable[..., Job], store: JobTables, sfn: FakeStepFunctions
) -> None:
    jobs = [new_job({"completionPolls": 1}) for _ in range(5)]
    paged = SmallPages.of(store)
    queries = _count_queries(paged)
    summary = make_poller(tables=paged).run()
    assert summary["succeeded"] == 5 and summary["checked"] == 5
    assert len(queries) == 3  # 2 + 2 + 1
    assert {c.token for c in sfn.sends()} == {job.token for job in jobs}


@pytest.fixture
def ticking_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The poller's monotonic clock moves one second each time it is read (once per due job)."""
    monkeypatch.setattr(poller_service, "time", SimpleNamespace(monotonic=itertools.count().__next__))


def test_a_short_deadline_takes_the_most_overdue_jobs_and_defers_the_rest(
    ticking_deadline: None,
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    poll_table: Any,
    sfn: FakeStepFunctions,
    clock: Clock,
) -> None:
    now_ms = epoch_ms(clock())
    jobs = [new_job({"completionPolls": 1}) for _ in range(6)]
    overdue_ms = [1_000, 6_000, 3_000, 5_000, 2_000, 4_000]
    for job, overdue in zip(jobs, overdue_ms, strict=True):
        _set_due(poll_table, job, now_ms - overdue)
    paged = SmallPages.of(store)
    summary = make_poller(tables=paged).run(deadline=2.5)  # the clock reads 0, 1, 2: three jobs in time
    assert (summary["succeeded"], summary["deferred"], summary["checked"]) == (3, 3, 3)
    assert {c.token for c in sfn.sends()} == {jobs[1].token, jobs[3].token, jobs[5].token}  # 6, 5, 4 s overdue
    for job in (jobs[0], jobs[2], jobs[4]):  # deferred: untouched, still due, first in the next run
        record = store.get(job.job_id)
        assert record is not None and record["status"] == "POLLING" and record["attemptCount"] == 0
        assert "claimOwner" not in record and record["dueAt"] <= now_ms
    assert make_poller().run()["succeeded"] == 3


def test_a_run_out_of_time_claims_nothing_and_counts_every_page_as_deferred(
    make_poller: Callable[..., Poller], new_job: Callable[..., Job], store: JobTables, sfn: FakeStepFunctions
) -> None:
    import time

    jobs = [new_job({"completionPolls": 1}) for _ in range(5)]
    paged = SmallPages.of(store)
    summary = make_poller(tables=paged).run(deadline=time.monotonic() - 1)
    assert summary["deferred"] == 5 and summary["checked"] == 0 and sfn.calls == []
    for job in jobs:
        record = store.get(job.job_id)
        assert record is not None and record["status"] == "POLLING" and record["attemptCount"] == 0
    assert make_poller().run()["succeeded"] == 5


def test_through_an_api_outage_every_job_keeps_its_heartbeat_and_its_attempts(
    monkeypatch: pytest.MonkeyPatch,
    poller: Poller,
    new_job: Callable[..., Job],
    store: JobTables,
    sfn: FakeStepFunctions,
    clock: Clock,
) -> None:
    quick = new_job({"completionPolls": 1}, max_attempts=2)
    slow = new_job({"completionPolls": 2}, max_attempts=2)
    never = new_job({"outcome": "NEVER_FINISH"}, max_attempts=2)
    jobs = (quick, slow, never)
    monkeypatch.setenv("SIMULATED_FAULTS", json.dumps({"checkStatus": "unavailable"}))
    for run in range(1, 4):
        before_ms = epoch_ms(clock())
        summary = poller.run()
        assert (summary["checked"], summary["heartbeats"], summary["errors"]) == (3, 3, 3)
        assert summary["succeeded"] == summary["failed"] == 0
        for job in jobs:
            assert sfn.count("SendTaskHeartbeat", token=job.token, accepted=True) == run  # one per run
            state = store.poll_state(job.job_id)
            assert state is not None and state["attemptCount"] == 0  # refunded
            assert state["heartbeatAt"] >= before_ms  # the heartbeat that went out is recorded
            # Due again at its next poll, an interval on: an outage does not make the poller busier.
            assert before_ms + 0.9 * INTERVAL_SECONDS * 1000 <= state["dueAt"] <= epoch_ms(clock()) + 60_000
        clock.advance(INTERVAL_SECONDS)
    monkeypatch.delenv("SIMULATED_FAULTS")
    # The outage used none of the two attempts: slow completes on its second check, never runs out.
    first = poller.run()
    assert (first["succeeded"], first["heartbeats"], first["errors"]) == (1, 2, 0)
    clock.advance(INTERVAL_SECONDS)
    second = poller.run()
    assert (second["succeeded"], second["failed"]) == (1, 1)
    assert [store.get(job.job_id)["status"] for job in jobs] == ["COMPLETED", "COMPLETED", "MAX_ATTEMPTS"]  # type: ignore[index]
    assert len(sfn.sends()) == 3


class IgnoresShardLeases(JobTables):
    """A run that works its shard without the shard's lease, as one whose lease lapsed mid-run would:
    only the jobs' own claims keep two runs apart."""

    def lease_shard(self, shard: str, *, owner: str, now_ms: int, until_ms: int) -> bool:
        return True

    def release_shard(self, shard: str, *, owner: str) -> None:
        pass

    @classmethod
    def of(cls, store: JobTables) -> IgnoresShardLeases:
        return cls(
            client=store.client, tokens_table=store.tokens_table, poll_table=store.poll_table, due_index=store.due_index
        )


def test_two_pollers_at_once_send_exactly_once_per_job(
    make_poller: Callable[..., Poller], new_job: Callable[..., Job], store: JobTables, sfn: FakeStepFunctions, api: Any
) -> None:
    """Pollers B and C run in full while poller A holds a claim mid-run, after A read the due jobs.
    B, an ordinary run, finds the shard busy (A's lease) and leaves it. C works the shard anyway (its
    lease lapsed, say): C must not see A's claimed job, and A must skip the jobs C finished."""
    jobs = [new_job({"completionPolls": 1}) for _ in range(10)]
    poller_b = make_poller(concurrency=4)
    poller_c = make_poller(concurrency=4, tables=IgnoresShardLeases.of(store))
    other_summaries: list[dict[str, Any]] = []

    class InterleavingApi:
        """A's status checks: the first one lets pollers B and C run before A continues."""

        def __init__(self) -> None:
            self.first = threading.Event()

        def check_status(self, job_id: str) -> Any:
            if not self.first.is_set():
                self.first.set()
                other_summaries.extend([poller_b.run(), poller_c.run()])
            return api.check_status(job_id)

    a_summary = make_poller(api=InterleavingApi(), concurrency=1).run()
    b_summary, c_summary = other_summaries
    assert (b_summary["busyShards"], b_summary["checked"]) == (1, 0)  # A's shard lease kept B out
    assert (c_summary["checked"], c_summary["succeeded"]) == (9, 9)  # A's claimed job is not due for C
    assert (a_summary["succeeded"], a_summary["skipped"]) == (1, 9)  # C's jobs were final when A came
    assert sorted(str(c.token) for c in sfn.sends()) == sorted(job.token for job in jobs)  # one each
    for job in jobs:
        assert store.get(job.job_id)["status"] == "COMPLETED"  # type: ignore[index]


# Truly parallel pollers are tested end to end on DynamoDB Local (tests/e2e, two pollers at once):
# moto's in-process DynamoDB does not make a conditional write atomic across threads.


def test_a_poller_whose_claim_lapsed_mid_job_writes_and_sends_nothing(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    sfn: FakeStepFunctions,
    clock: Clock,
    api: Any,
) -> None:
    """A's status check outlasts its lease; B takes the job and finishes it; A's late decision is refused."""
    job = new_job({"completionPolls": 1})
    b_summaries: list[dict[str, Any]] = []

    class SlowApi:
        def check_status(self, job_id: str) -> Any:
            clock.advance(CLAIM_SECONDS + 1)
            b_summaries.append(make_poller().run())
            return api.check_status(job_id)

    a_summary = make_poller(api=SlowApi()).run()
    assert b_summaries[0]["succeeded"] == 1 and a_summary["skipped"] == 1
    assert [(c.operation, c.token) for c in sfn.calls] == [("SendTaskSuccess", job.token)]
    record = store.get(job.job_id)
    assert record is not None and record["status"] == "COMPLETED" and "decision" not in record


def test_a_poller_whose_claim_lapsed_during_a_check_still_heartbeats_and_leaves_the_job(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    sfn: FakeStepFunctions,
    clock: Clock,
    api: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A's status check outlasts its claim (the job's next poll); B takes the job and heartbeats it,
    its claim setting the next poll. A's heartbeat still goes out (the job still runs), but A writes
    nothing more: the job's next poll is B's claim's, not moved by A."""
    job = new_job({"completionPolls": 5})
    b_summaries: list[dict[str, Any]] = []
    claims: list[Any] = []

    class SlowApi:
        def check_status(self, job_id: str) -> Any:
            claims.append(store.poll_state(job_id))  # A's claim
            clock.advance(INTERVAL_SECONDS + 1)
            b_summaries.append(make_poller().run())
            claims.append(store.poll_state(job_id))  # B's claim
            return api.check_status(job_id)

    a_summary = make_poller(api=SlowApi()).run()
    assert b_summaries[0]["heartbeats"] == 1
    assert (a_summary["heartbeats"], a_summary["errors"]) == (1, 0)
    assert sfn.count("SendTaskHeartbeat", token=job.token, accepted=True) == 2
    state = store.poll_state(job.job_id)
    assert state is not None and state["attemptCount"] == 2
    a_claim, b_claim = claims
    assert b_claim["claimOwner"] != a_claim["claimOwner"] and b_claim["dueAt"] > a_claim["dueAt"]
    assert state == b_claim  # B's claim, untouched by A
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"level"')]
    assert [(line["level"], line["message"]) for line in lines if line["level"] != "INFO"] == []


def test_every_read_of_a_record_is_consistent(
    poller: Poller, new_job: Callable[..., Job], store: JobTables, sfn: FakeStepFunctions
) -> None:
    """The poller reads a record right after create_job or another poller wrote it."""
    reads: list[dict[str, Any]] = []
    store.client.meta.events.register(
        "before-parameter-build.dynamodb.GetItem", lambda params, **_: reads.append(params)
    )
    job = new_job({"completionPolls": 1})
    sfn.inject("SendTaskHeartbeat", "refuse", code="InvalidToken")
    other = new_job({"completionPolls": 2})
    assert poller.run(job.job_id)["succeeded"] == 1  # the run by id reads the record first
    assert poller.run(other.job_id)["skipped"] == 1  # a refused token: the token record is read again
    assert store.get("missing") is None
    # Per job: its poll state (the run by id), its token record when it needs the token, and again
    # after a refusal; the index (eventually consistent) is only a list of candidates.
    tables = [params["TableName"] for params in reads]
    assert (tables.count("PollState"), tables.count("TaskTokens"), len(tables)) == (2, 4, 6)
    assert all(params.get("ConsistentRead") is True for params in reads)
