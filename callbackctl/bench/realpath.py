"""Real waiting executions for the scale phases: start them in parallel, make their jobs due (heartbeat
owed) or finished at the API, and read how the executions ended.

Every timed poller run works on these real jobs: their task tokens are the executions' own, so a
heartbeat or a success is accepted by Step Functions (the old bench forged tokens, and every send
was a token error). The backlog of not-due jobs comes from ``seed.backlog``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from callbackctl.bench.seed import Item, finishing, made_due
from callbackctl.deployment.executions import running_executions, start_executions
from callbackctl.deployment.tables import put_items, scan_items
from callbackctl.errors import CommandFailed, TimedOut
from common.records import DUE_SHARD, SHARD_LEASE_PREFIX, TABLE_KEY, Attr, epoch_ms
from common.schedule import shard_of

if TYPE_CHECKING:
    from callbackctl.bench.phases import Bench

SEEDED_PREFIX = "bench-"  # seeded backlog jobs; real jobs have the simulated API's ids
WAITING_INPUT = {"simulate": {"outcome": "SUCCEED", "completionPolls": 100}, "payload": {"bench": "scale"}}


def start_many(
    bench: Bench, count: int, prefix: str, execution_input: dict[str, Any], *, workers: int = 16
) -> list[str]:
    """Start ``count`` executions, ``workers`` at a time, logging progress every 10%."""
    done = [0]
    step = max(1, count // 10)
    began = time.monotonic()

    def progress(n: int) -> None:
        done[0] += n
        if done[0] % step == 0 or done[0] == count:
            rate = done[0] / max(1e-9, time.monotonic() - began)
            bench.log(f"  started {done[0]:,}/{count:,} executions ({rate:.0f}/s)")

    runs = start_executions(
        bench.target,
        bench.dep.state_machine_arn,
        [execution_input] * count,
        prefix=prefix,
        workers=workers,
        progress=progress,
    )
    return [arn for _, arn in runs]


def poll_states(bench: Bench, *, real_only: bool = True) -> list[Item]:
    """Every job's poll state (not the shard leases); only the real executions' if ``real_only``."""
    items = scan_items(bench.target, bench.dep.poll_state_table, consistent=True)
    jobs = [i for i in items if not i["jobId"]["S"].startswith(SHARD_LEASE_PREFIX)]
    return [i for i in jobs if not i["jobId"]["S"].startswith(SEEDED_PREFIX)] if real_only else jobs


def wait_for_records(bench: Bench, count: int, timeout: float = 300.0) -> list[Item]:
    """Wait until create_job has written the poll state of ``count`` real jobs."""
    deadline, last = time.monotonic() + timeout, -1
    while True:
        states = poll_states(bench)
        if len(states) >= count:
            return states
        if len(states) != last:
            bench.log(f"  {len(states):,}/{count:,} jobs created (create_job has written their poll state)")
            last = len(states)
        if time.monotonic() > deadline:
            raise TimedOut(f"only {len(states)} of {count} jobs have a poll state after {timeout:.0f} s")
        time.sleep(2)


def make_due(bench: Bench, states: list[Item], *, shards: int | None = None) -> None:
    """The jobs due now with a heartbeat owed; moved to ``shard_of(jobId, shards)`` if given."""
    now_ms = epoch_ms_now()
    items = [
        made_due(s, now_ms=now_ms, shard=None if shards is None else shard_of(s["jobId"]["S"], shards)) for s in states
    ]
    put_items(bench.target, bench.dep.poll_state_table, items, workers=8)


def reshard_waiting(bench: Bench, shards: int) -> int:
    """Move the real jobs still waiting back to ``shard_of(jobId, shards)`` (the deployed shards),
    keeping their poll state; returns how many moved. A finished job has no poll state left, so
    none comes back. Run with the schedules paused and no timed run working: nothing else writes."""
    moved = [
        {**state, DUE_SHARD: {"S": shard}}
        for state in poll_states(bench)
        if state.get(DUE_SHARD, {}).get("S") != (shard := shard_of(state["jobId"]["S"], shards))
    ]
    put_items(bench.target, bench.dep.poll_state_table, moved, workers=8)
    return len(moved)


def finish_at_api(bench: Bench, job_ids: set[str]) -> None:
    """Make these simulated jobs end (SUCCEED) at their next status check."""
    jobs = [j for j in scan_items(bench.target, bench.dep.jobs_table, consistent=True) if j["jobId"]["S"] in job_ids]
    if len(jobs) != len(job_ids):
        raise CommandFailed(f"found {len(jobs)} of {len(job_ids)} jobs at the simulated API")
    put_items(bench.target, bench.dep.jobs_table, [finishing(j) for j in jobs], workers=8)


def tokens_by_job(bench: Bench) -> dict[str, str]:
    projection = f"{TABLE_KEY}, {Attr.TASK_TOKEN}"
    items = scan_items(bench.target, bench.dep.task_tokens_table, projection=projection, consistent=True)
    return {i[TABLE_KEY]["S"]: i[Attr.TASK_TOKEN]["S"] for i in items}


def count_running(bench: Bench) -> int:
    return len(running_executions(bench.target, bench.dep.state_machine_arn))


def any_running(bench: Bench) -> bool:
    """One ListExecutions item: LocalStack serializes one, not every running execution."""
    sfn = bench.target.client("stepfunctions")
    page = sfn.list_executions(stateMachineArn=bench.dep.state_machine_arn, statusFilter="RUNNING", maxResults=1)
    return bool(page["executions"])


# Whether any execution still runs, checked this often; how many, counted (and logged) this often.
# Counting is LocalStack's work too: serializing a page of 1,000 list items took ~10% of its CPU
# during the crowd (py-spy) when counted every 5 s, and in pages of 100 every 3 s it took 1.2-1.8 s
# per 1,000 running.
CHECK_EVERY_SECONDS = 5.0
COUNT_EVERY_SECONDS = 30.0


def wait_all_ended(bench: Bench, timeout: float, what: str, *, raise_on_timeout: bool = True) -> int:
    """Wait until no execution of the state machine runs; how many still run at the timeout."""
    deadline, last, counted = time.monotonic() + timeout, -1, -math.inf
    while True:
        now = time.monotonic()
        if now - counted >= COUNT_EVERY_SECONDS or now > deadline:
            running, counted = count_running(bench), now
            if running and running != last:
                bench.log(f"  {what}: {running:,} executions still running")
                last = running
        else:
            running = 1 if any_running(bench) else 0
        if running == 0:
            return 0
        if now > deadline:
            if raise_on_timeout:
                raise TimedOut(f"{what}: {running} executions still running after {timeout:.0f} s")
            return running
        sleep_between_checks()


def sleep_between_checks() -> None:
    time.sleep(CHECK_EVERY_SECONDS)


def end_states(bench: Bench, arns: list[str]) -> dict[str, int]:
    """How each execution ended: SUCCEEDED, or its status and error (e.g. FAILED JobTimedOut)."""
    sfn = bench.target.client("stepfunctions")

    def one(arn: str) -> str:
        desc = sfn.describe_execution(executionArn=arn)
        status = str(desc["status"])
        return status if status == "SUCCEEDED" else f"{status} {desc.get('error', '')}".strip()

    with ThreadPoolExecutor(max_workers=16) as pool:
        return dict(Counter(pool.map(one, arns)))


def epoch_ms_now() -> int:
    return epoch_ms(datetime.now(UTC))
