"""poller: which jobs a run takes, in what order, and what it leaves: the ByDue index, deadlines,
pages, API outages, several pollers; and the poll schedule: back-off, heartbeat refresh, the poll's
one write, shard leases, throttling."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import poller.service as poller_service
from common.records import SHARD_LEASE_PREFIX, epoch_ms
from common.schedule import shard_of
from poller.ratelimit import THROTTLE_PAUSE_SECONDS, RateLimiter
from poller.service import Poller
from poller.store import DueJob, JobTables

from .conftest import INTERVAL_SECONDS, POLL_TABLE, SCHEDULE, TOKENS_TABLE, Job
from .fakes import Clock, FakeStepFunctions, SmallPages, is_claim


@pytest.fixture
def make_poller(make_poller: Callable[..., Poller]) -> Callable[..., Poller]:
    """The shared poller factory, one worker thread unless a test asks for more: these runs work
    several jobs, and moto's TransactWriteItems deep-copies whole tables, which fails now and then
    ("dictionary changed size during iteration") while another thread writes. Threads racing on one
    job are tested end to end (tests/e2e)."""

    def make(**overrides: Any) -> Poller:
        return make_poller(**{"concurrency": 1, **overrides})

    return make


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


def test_a_run_out_of_time_stops_counting_deferred_jobs_before_its_own_timeout(
    ticking_deadline: None,
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    sfn: FakeStepFunctions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a backlog of many pages, counting what it leaves must not take the run past its
    timeout: it counts for DEFERRED_COUNTING_SECONDS after the deadline, then stops reading pages."""
    monkeypatch.setattr(poller_service, "DEFERRED_COUNTING_SECONDS", 3.0)
    jobs = [new_job({"completionPolls": 1}) for _ in range(12)]
    paged = SmallPages.of(store)
    queries = 0
    query = store.client.query

    def counted(**kwargs: Any) -> Any:
        nonlocal queries
        queries += 1
        return query(**kwargs)

    monkeypatch.setattr(store.client, "query", counted)
    # The clock reads 0, 1, 2, ... once per due job: past the deadline (-0.5) from the first, and
    # past the counting time (-0.5 + 3) at the fourth.
    summary = make_poller(tables=paged).run(deadline=-0.5)
    assert summary["deferred"] == 3 and summary["checked"] == 0 and sfn.calls == []
    assert queries == 2  # pages of 2: the fourth job's page, and no page after it
    assert make_poller().run()["succeeded"] == len(jobs)  # nothing was touched: all still due


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
    poller_b = make_poller()
    poller_c = make_poller(tables=IgnoresShardLeases.of(store))
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

    a_summary = make_poller(api=InterleavingApi()).run()
    b_summary, c_summary = other_summaries
    assert (b_summary["busyShards"], b_summary["checked"]) == (1, 0)  # A's shard lease kept B out
    assert (c_summary["checked"], c_summary["succeeded"]) == (9, 9)  # A's claimed job is not due for C
    assert (a_summary["succeeded"], a_summary["skipped"]) == (1, 9)  # C's jobs were final when A came
    assert sorted(str(c.token) for c in sfn.sends()) == sorted(job.token for job in jobs)  # one each
    for job in jobs:
        assert store.get(job.job_id)["status"] == "COMPLETED"  # type: ignore[index]


@dataclasses.dataclass(frozen=True, kw_only=True)
class StaleIndex(JobTables):
    """The ByDue index as a lagging replica shows it: the due jobs it listed earlier."""

    listing: tuple[DueJob, ...]

    def due(self, *, shard: str, now_ms: int, page_size: int = 500) -> Iterator[DueJob]:
        return iter(self.listing)


def test_a_job_the_index_still_lists_after_another_runs_claim_is_skipped(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    sfn: FakeStepFunctions,
    clock: Clock,
) -> None:
    """The index is eventually consistent: a second run may be handed a job the first has just claimed.
    Its claim fails (the job's due time has moved past now), so it checks and sends nothing."""
    job = new_job({"completionPolls": 5})
    listing = tuple(store.due(shard=shard_of(job.job_id, SCHEDULE.shards), now_ms=epoch_ms(clock())))
    assert [d.job_id for d in listing] == [job.job_id]
    assert make_poller().run()["heartbeats"] == 1
    claimed = store.poll_state(job.job_id)
    stale = StaleIndex(
        client=store.client,
        tokens_table=store.tokens_table,
        poll_table=store.poll_table,
        due_index=store.due_index,
        listing=listing,
    )
    summary = make_poller(tables=stale).run()
    assert (summary["checked"], summary["skipped"], summary["heartbeats"]) == (1, 1, 0)
    assert sfn.count("SendTaskHeartbeat") == 1
    assert store.poll_state(job.job_id) == claimed  # not claimed again, no attempt counted


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
    """A's status check outlasts its claim (the job's next poll, an interval on); B takes the job and
    finishes it; A's late decision is refused."""
    job = new_job({"completionPolls": 1})
    b_summaries: list[dict[str, Any]] = []

    class SlowApi:
        def check_status(self, job_id: str) -> Any:
            clock.advance(INTERVAL_SECONDS + 1)
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


# The poll schedule: back-off, heartbeat refresh, the poll's one write, shard leases, throttling.


class NoJitter(random.Random):
    """The poller's random source with the jitter off: a claim sets the next poll one full wait on."""

    def random(self) -> float:
        return 0.0


def _count_writes(store: JobTables) -> list[tuple[str, str, str]]:
    """Every write the poller's client makes, as (operation, table, job id), one per item written."""
    writes: list[tuple[str, str, str]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        items = [next(iter(item.values())) for item in params.get("TransactItems", [])] or [params]
        for item in items:
            writes.append((model.name, item["TableName"], item["Key"]["jobId"]["S"]))

    for operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"):
        store.client.meta.events.register(f"before-parameter-build.dynamodb.{operation}", record)
    return writes


@pytest.mark.parametrize(
    ("heartbeat_refresh", "count"),
    [pytest.param(1.0, "heartbeats", id="heartbeat-owed"), pytest.param(300.0, "polled", id="no-heartbeat-owed")],
)
def test_a_running_jobs_poll_is_one_write_of_its_poll_state_and_none_of_its_token_record(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    sfn: FakeStepFunctions,
    heartbeat_refresh: float,
    count: str,
) -> None:
    """The claim counts the attempt, sets the next poll and records the heartbeat: nothing is released
    after a successful poll, and the token record (up to 2 KB) is only read."""
    job = new_job({"completionPolls": 5})
    token_record = store.token_record(job.job_id)
    writes = _count_writes(store)
    claims: list[dict[str, Any]] = []
    store.client.meta.events.register(
        "before-parameter-build.dynamodb.UpdateItem",
        lambda params, **_: claims.append(params) if is_claim(params) else None,
    )
    schedule = dataclasses.replace(SCHEDULE, heartbeat_refresh=heartbeat_refresh)
    summary = make_poller(schedule=schedule).run()
    assert (summary["checked"], summary[count], summary["errors"]) == (1, 1, 0)
    assert sfn.count("SendTaskHeartbeat", accepted=True) == (1 if count == "heartbeats" else 0)
    assert [w for w in writes if w[2] == job.job_id] == [("UpdateItem", POLL_TABLE, job.job_id)]
    assert len(claims) == 1  # that write is the claim
    assert store.token_record(job.job_id) == token_record
    # The rest: the run's shard lease, taken and given back.
    shard_lease = SHARD_LEASE_PREFIX + shard_of(job.job_id, SCHEDULE.shards)
    assert [w for w in writes if w[2] != job.job_id] == [("UpdateItem", POLL_TABLE, shard_lease)] * 2
    assert all(w[1] != TOKENS_TABLE for w in writes)


def test_a_job_backs_off_by_the_factor_up_to_the_cap(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    sfn: FakeStepFunctions,
    clock: Clock,
) -> None:
    """Each poll of a running job multiplies its interval by the factor, up to the cap; its next poll is
    that wait on, shortened by the jitter (at most 10%)."""
    schedule = dataclasses.replace(SCHEDULE, factor=2.0, cap=240.0, heartbeat_refresh=10_000.0)
    poller = make_poller(schedule=schedule)
    job = new_job({"outcome": "NEVER_FINISH"}, max_attempts=10)
    assert store.poll_state(job.job_id)["intervalMs"] == 60_000  # type: ignore[index]  # create_job: the first wait
    for wait_s in (120, 240, 240):
        before_ms = epoch_ms(clock())
        summary = poller.run()
        after_ms = epoch_ms(clock())
        assert (summary["checked"], summary["polled"]) == (1, 1)
        state = store.poll_state(job.job_id)
        assert state is not None and state["intervalMs"] == wait_s * 1000
        assert before_ms + 0.9 * wait_s * 1000 <= state["dueAt"] <= after_ms + wait_s * 1000
        assert poller.run()["checked"] == 0  # not due before then
        clock.advance(wait_s)
    assert store.poll_state(job.job_id)["attemptCount"] == 3  # type: ignore[index]
    assert sfn.calls == []  # no heartbeat owed: the refresh is longer than all of it


def test_a_heartbeat_goes_out_only_once_the_last_one_is_refresh_old(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    sfn: FakeStepFunctions,
    clock: Clock,
) -> None:
    """With a refresh of 300 s and a poll a minute, polls at +60 .. +240 s only check the job ("polled");
    the poll at +300 s heartbeats, and each next poll comes no later than the heartbeat deadline."""
    poller = make_poller(schedule=dataclasses.replace(SCHEDULE, heartbeat_refresh=300.0))
    job = new_job({"outcome": "NEVER_FINISH"}, max_attempts=20)
    started_ms = store.poll_state(job.job_id)["heartbeatAt"]  # type: ignore[index]  # the task began
    for _ in range(4):  # the clock starts an interval after the job: +60, +120, +180, +240 s
        summary = poller.run()
        assert (summary["polled"], summary["heartbeats"]) == (1, 0)
        state = store.poll_state(job.job_id)
        assert state is not None and state["heartbeatAt"] == started_ms
        assert state["dueAt"] <= started_ms + 300_000
        clock.advance(INTERVAL_SECONDS)
    assert sfn.count("SendTaskHeartbeat") == 0
    before_ms = epoch_ms(clock())
    summary = poller.run()
    assert (summary["polled"], summary["heartbeats"]) == (0, 1)
    assert sfn.count("SendTaskHeartbeat", token=job.token, accepted=True) == 1
    state = store.poll_state(job.job_id)
    assert state is not None and before_ms <= state["heartbeatAt"] <= epoch_ms(clock())
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["polled"] == 1 and sfn.count("SendTaskHeartbeat") == 1


def test_a_long_interval_is_cut_short_at_the_heartbeat_deadline(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    sfn: FakeStepFunctions,
    clock: Clock,
) -> None:
    """Backed off to 600 s, a job is still polled when its heartbeat is due: 300 s after the last one."""
    schedule = dataclasses.replace(SCHEDULE, factor=10.0, cap=600.0, heartbeat_refresh=300.0)
    poller = make_poller(schedule=schedule)
    job = new_job({"outcome": "NEVER_FINISH"}, max_attempts=20)
    started_ms = store.poll_state(job.job_id)["heartbeatAt"]  # type: ignore[index]
    assert poller.run()["polled"] == 1
    state = store.poll_state(job.job_id)
    assert state is not None and state["intervalMs"] == 600_000
    assert state["dueAt"] == started_ms + 300_000  # not 540-600 s on
    clock.advance(300 - INTERVAL_SECONDS)  # to the heartbeat deadline
    assert poller.run()["heartbeats"] == 1
    state = store.poll_state(job.job_id)
    assert state is not None and state["intervalMs"] == 600_000
    assert state["dueAt"] == state["heartbeatAt"] + 300_000
    assert sfn.count("SendTaskHeartbeat", token=job.token, accepted=True) == 1


def test_a_shard_another_run_works_is_left_to_it(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    poll_table: Any,
    sfn: FakeStepFunctions,
    clock: Clock,
) -> None:
    job = new_job({"completionPolls": 5})
    lease_key = SHARD_LEASE_PREFIX + shard_of(job.job_id, SCHEDULE.shards)
    poll_table.put_item(
        Item={"jobId": lease_key, "claimOwner": "another-run", "leaseUntil": epoch_ms(clock()) + 30_000}
    )
    summary = make_poller().run()
    assert (summary["busyShards"], summary["checked"], summary["deferred"]) == (1, 0, 0)
    assert sfn.calls == []
    state = store.poll_state(job.job_id)
    assert state is not None and state["attemptCount"] == 0 and "claimOwner" not in state  # not claimed
    assert store.poll_state(lease_key)["claimOwner"] == "another-run"  # type: ignore[index]  # its lease stands
    clock.advance(31)  # the other run's lease has lapsed (it died)
    summary = make_poller().run()
    assert (summary["busyShards"], summary["checked"], summary["heartbeats"]) == (0, 1, 1)
    lease = store.poll_state(lease_key)
    assert lease is not None and lease["claimOwner"] != "another-run" and "leaseUntil" not in lease  # given back
    # A shard lease is not a job: the index lists only the job.
    assert [d.job_id for d in store.due(shard=lease_key.removeprefix(SHARD_LEASE_PREFIX), now_ms=2**53)] == [job.job_id]


class _MonotonicClock:
    """A rate limiter's clock that moves only when it sleeps, recording the sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_throttled_heartbeat_gives_the_job_back_with_its_heartbeat_owed(
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    sfn: FakeStepFunctions,
    clock: Clock,
) -> None:
    """Step Functions says slow down: the job is given back for the next run with its last heartbeat
    put back (so the next poll owes it again), the sends pause, and nothing is lost."""
    monotonic = _MonotonicClock()
    limiter = RateLimiter(rate_per_second=10_000, clock=monotonic, sleep=monotonic.sleep)
    poller = make_poller(send_limiter=limiter, rng=NoJitter())
    job = new_job({"completionPolls": 3})
    last_heartbeat = store.poll_state(job.job_id)["heartbeatAt"]  # type: ignore[index]
    sfn.inject("SendTaskHeartbeat", "refuse", code="ThrottlingException")
    before_ms = epoch_ms(clock())
    summary = poller.run()
    after_ms = epoch_ms(clock())
    assert (summary["checked"], summary["throttled"], summary["heartbeats"], summary["errors"]) == (1, 1, 0, 0)
    state = store.poll_state(job.job_id)
    assert state is not None and state["heartbeatAt"] == last_heartbeat  # owed again
    assert state["attemptCount"] == 1  # the status check was answered: it counts
    # Due at the next run (0.9 interval after this one started), not a full interval after the claim.
    assert before_ms + 0.9 * INTERVAL_SECONDS * 1000 <= state["dueAt"] <= after_ms + 0.9 * INTERVAL_SECONDS * 1000
    assert store.get(job.job_id)["status"] == "POLLING"  # type: ignore[index]
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["heartbeats"] == 1
    assert sum(monotonic.sleeps) >= THROTTLE_PAUSE_SECONDS  # the limiter held the next send back
    assert (sfn.count("SendTaskHeartbeat", accepted=False), sfn.count("SendTaskHeartbeat", accepted=True)) == (1, 1)
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["succeeded"] == 1  # its third check
    assert store.get(job.job_id)["status"] == "COMPLETED"  # type: ignore[index]


def test_a_failed_check_that_owes_no_heartbeat_keeps_the_jobs_schedule_and_its_attempt(
    monkeypatch: pytest.MonkeyPatch,
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    sfn: FakeStepFunctions,
    clock: Clock,
) -> None:
    """The job API is down and the job's heartbeat is not due yet: nothing is sent, the attempt is
    refunded, and the job keeps the next poll its claim set (a full interval on, no jitter here),
    not the early release a failed step gets."""
    poller = make_poller(schedule=dataclasses.replace(SCHEDULE, heartbeat_refresh=300.0), rng=NoJitter())
    job = new_job({"completionPolls": 1})
    heartbeat = store.poll_state(job.job_id)["heartbeatAt"]  # type: ignore[index]
    monkeypatch.setenv("SIMULATED_FAULTS", json.dumps({"checkStatus": "unavailable"}))
    before_ms = epoch_ms(clock())
    summary = poller.run()
    after_ms = epoch_ms(clock())
    assert (summary["checked"], summary["errors"], summary["heartbeats"]) == (1, 1, 0)
    assert sfn.calls == []
    state = store.poll_state(job.job_id)
    assert state is not None and (state["attemptCount"], state["heartbeatAt"]) == (0, heartbeat)
    assert before_ms + 60_000 <= state["dueAt"] <= after_ms + 60_000
    monkeypatch.delenv("SIMULATED_FAULTS")
    clock.advance(INTERVAL_SECONDS)
    assert poller.run()["succeeded"] == 1


def test_when_both_the_check_and_the_heartbeat_fail_the_attempt_is_refunded(
    monkeypatch: pytest.MonkeyPatch,
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    sfn: FakeStepFunctions,
) -> None:
    """The job API is down and the owed heartbeat is throttled: the job is given back with its
    attempt refunded and its heartbeat owed again."""
    poller = make_poller(rng=NoJitter())
    job = new_job({"completionPolls": 1})
    heartbeat = store.poll_state(job.job_id)["heartbeatAt"]  # type: ignore[index]
    monkeypatch.setenv("SIMULATED_FAULTS", json.dumps({"checkStatus": "unavailable"}))
    sfn.inject("SendTaskHeartbeat", "refuse", code="ThrottlingException")
    summary = poller.run()
    assert (summary["checked"], summary["errors"], summary["throttled"], summary["heartbeats"]) == (1, 1, 1, 0)
    state = store.poll_state(job.job_id)
    assert state is not None and (state["attemptCount"], state["heartbeatAt"]) == (0, heartbeat)


def test_after_a_failed_check_a_heartbeat_that_went_out_keeps_the_claims_schedule(
    monkeypatch: pytest.MonkeyPatch,
    make_poller: Callable[..., Poller],
    new_job: Callable[..., Job],
    store: JobTables,
    clock: Clock,
) -> None:
    """The job API is down, the heartbeat goes out: the job keeps the next poll its claim set (a full
    interval on, no jitter here), not the early release of a failed step."""
    poller = make_poller(rng=NoJitter())
    job = new_job({"completionPolls": 1})
    monkeypatch.setenv("SIMULATED_FAULTS", json.dumps({"checkStatus": "unavailable"}))
    before_ms = epoch_ms(clock())
    summary = poller.run()
    after_ms = epoch_ms(clock())
    assert (summary["errors"], summary["heartbeats"]) == (1, 1)
    state = store.poll_state(job.job_id)
    assert state is not None and state["attemptCount"] == 0
    assert before_ms + 60_000 <= state["dueAt"] <= after_ms + 60_000
    assert before_ms <= state["heartbeatAt"] <= after_ms


def test_a_running_job_whose_token_record_is_gone_leaves_the_index_without_a_heartbeat(
    poller: Poller, new_job: Callable[..., Job], store: JobTables, sfn: FakeStepFunctions
) -> None:
    job = new_job({"completionPolls": 3})
    store.client.delete_item(TableName=store.tokens_table, Key={"jobId": {"S": job.job_id}})
    summary = poller.run()
    assert (summary["checked"], summary["skipped"], summary["heartbeats"], summary["errors"]) == (1, 1, 0, 0)
    assert store.poll_state(job.job_id) is None
    assert sfn.calls == []
