"""The scale phases, on real waiting executions with every shard schedule paused:

1. ``pending`` (1,000) real executions wait; all due, heartbeat owed: a timed run (1 shard) claims,
   checks and heartbeats each one (real tokens: Step Functions accepts every heartbeat);
2. the raw floor over the same jobs, for as long as the timed run took (``runs.floor_run``);
3. a backlog of not-due jobs brings the pending count to ``backlog_pending`` (10,000): the same due
   jobs, one shard: time per due job, and index items read (due, not pending);
4. the same over 4 shards, one run per shard at once;
5. the jobs end at the API: a timed run per shard sends SendTaskSuccess (the decision-before-send
   path), the schedules, resumed, finish what it left; every execution must end SUCCEEDED.
Then (``settle``: step 5's executions have ended), schedules running: ``crowd`` (2,000) executions
started at once, all must end, none timed out.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from callbackctl.bench.realpath import (
    WAITING_INPUT,
    end_states,
    finish_at_api,
    make_due,
    reshard_waiting,
    start_many,
    tokens_by_job,
    wait_all_ended,
    wait_for_records,
)
from callbackctl.bench.runs import floor_run, timed_run
from callbackctl.bench.seed import backlog
from callbackctl.deployment.tables import put_items

if TYPE_CHECKING:
    from callbackctl.bench.phases import Bench


def _empty_job_tables(bench: Bench) -> None:
    for table in (bench.dep.task_tokens_table, bench.dep.poll_state_table, bench.dep.jobs_table):
        bench.empty(table, workers=8)


def _seed_backlog(bench: Bench, count: int) -> float:
    """``count`` not-due jobs in shard 0 (batch writes of their poll states: the only item a run could
    read of a job that is not due); returns the seconds it took."""
    began = time.monotonic()
    seed = backlog(count, datetime.now(UTC))
    put_items(bench.target, bench.dep.poll_state_table, seed.states, workers=8)
    return time.monotonic() - began


def _start_waiting(bench: Bench, count: int) -> tuple[list[str], list[dict[str, Any]], float]:
    began = time.monotonic()
    bench.log(f"scale: starting {count:,} real executions that keep waiting (schedules paused)")
    arns = start_many(bench, count, "bench-wait", WAITING_INPUT)
    states = wait_for_records(bench, count)
    return arns, states, time.monotonic() - began


def _heartbeat_runs(bench: Bench, states: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """Steps 1-4 (see the module): the timed heartbeat runs and the floor."""
    s = bench.settings
    runs: dict[str, Any] = {}
    for attempt in range(s.scale_repeats):
        make_due(bench, states)
        bench.log(f"scale: run over {n:,} pending, {n:,} due, 1 shard (#{attempt + 1})")
        runs.setdefault("pending1k", []).append(timed_run(bench, ["0"], n))
    make_due(bench, states)
    bench.log(f"scale: raw floor over the same {n:,} jobs ({bench.dep.poller_concurrency} at a time)")
    window = min(r["seconds"] for r in runs["pending1k"])  # the floor gets the time the poller had
    runs["floor"] = floor_run(bench, tokens_by_job(bench), bench.dep.poller_concurrency, window)
    extra = s.backlog_pending - n
    bench.log(f"scale: seeding {extra:,} not-due jobs (batch writes) -> {s.backlog_pending:,} pending")
    runs["seedSeconds"] = round(_seed_backlog(bench, extra), 2)
    make_due(bench, states)
    bench.log(f"scale: run over {s.backlog_pending:,} pending, {n:,} due, 1 shard")
    runs["pending10k"] = timed_run(bench, ["0"], n)
    bench.log(f"scale: the due jobs spread over {s.shards} shards; run over {s.backlog_pending:,} pending")
    make_due(bench, states, shards=s.shards)
    runs["shards4"] = timed_run(bench, [str(k) for k in range(s.shards)], n)
    return runs


def real_path(bench: Bench) -> tuple[dict[str, Any], list[str]]:
    """Steps 1-5 (see the module); schedules paused, tables emptied before. Returns the result and the
    executions, some still waiting for the resumed schedules (``settle`` waits for them)."""
    s = bench.settings
    n = s.scale_pending
    bench.set_schedules("DISABLED")
    try:
        time.sleep(bench.interval_seconds + 2)  # a run already fired finishes
        _empty_job_tables(bench)
        arns, states, start_seconds = _start_waiting(bench, n)
        result = _heartbeat_runs(bench, states, n)
        bench.log(f"scale: the {n:,} jobs end at the API; one run per shard sends SendTaskSuccess")
        finish_at_api(bench, {st["jobId"]["S"] for st in states})
        make_due(bench, states, shards=s.shards)
        result["success"] = timed_run(bench, [str(k) for k in range(s.shards)], n)
        # One run per shard may not reach every job (its deadline, status checks timing out on a
        # loaded machine): the schedules, as deployed, finish the rest, once the jobs left are back
        # in the deployed shards (a schedule per shard: no schedule polls the bench's extra shards).
        moved = reshard_waiting(bench, len(bench.dep.poller_schedules))
        bench.log(f"scale: {moved:,} jobs still waiting moved back to the deployed shards; schedules resumed")
        result["leftToSchedules"] = moved
        result["startSeconds"] = round(start_seconds, 1)
    finally:
        bench.set_schedules("ENABLED")
    return result, arns


def settle(bench: Bench, result: dict[str, Any], arns: list[str], timeout: float = 300.0) -> None:
    """Wait until the scale phase's executions have ended (the schedules finish what its timed success
    run left), record how each ended, and empty the job tables."""
    wait_all_ended(bench, timeout, "success run (the schedules finish what the timed run left)")
    result["endStates"] = end_states(bench, arns)
    _empty_job_tables(bench)


# The crowd's StartExecution calls, this many at a time: about 10-15 a second here, and each call
# waits for LocalStack's answer, so a loaded process slows the starts down. 16 at a time (22-31 a
# second) overran the machine in 3 of 4 runs: twice the job API's and create_job's calls timed out and
# LocalStack never caught up (2026-12-01 23:56, 2026-12-02 00:38 UTC), once it stopped answering
# StartExecution after 1,200 (run started 03:09, with the cheap checks of ``wait_all_ended``); one run
# finished (02:51). 8 at a time overran once too, in a slow period of the machine (04:23); since the
# local cloud and CreateJob's throttled retries got cheaper it ended 2,000/2,000 in every run (05:51,
# 06:27, 06:58; README, bench). The issue's own cliff run started its 2,000 at 4.8 a second.
CROWD_START_WORKERS = 8

CROWD_INPUT = {"simulate": {"outcome": "SUCCEED", "completionPolls": 1}, "payload": {"bench": "crowd"}}


def crowd(bench: Bench) -> dict[str, Any]:
    """``crowd`` executions started at once with the schedules running; how each one ended. Each crowd
    job is done at its first status check: the crowd is about executions waiting at once (none may
    time out), and one poll per job keeps the run shorter on a small machine."""
    count = bench.settings.crowd
    bench.log(f"crowd: {count:,} executions started at once, schedules running")
    began = time.monotonic()
    arns = start_many(bench, count, "bench-crowd", CROWD_INPUT, workers=CROWD_START_WORKERS)
    started = time.monotonic() - began
    still_running = wait_all_ended(bench, bench.settings.crowd_timeout, "crowd", raise_on_timeout=False)
    seconds = time.monotonic() - began
    states = end_states(bench, arns)
    if still_running:
        bench.log(f"crowd: {still_running} executions still running after {bench.settings.crowd_timeout:.0f} s")
    bench.log(f"crowd: ended in {seconds:.0f} s: {states}")
    return {
        "executions": count,
        "completionPolls": 1,
        "startSeconds": round(started, 1),
        "seconds": round(seconds, 1),
        "endStates": states,
    }
