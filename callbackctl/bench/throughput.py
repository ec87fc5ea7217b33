"""Poller throughput: one synchronous poller run over N pending jobs, with the schedule disabled;
then the same with many finished records in the table (the index query must not read them)."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from typing import Any

from callbackctl.bench.billing import lambda_count, request_count
from callbackctl.bench.measured import ratio
from callbackctl.bench.phases import Bench
from callbackctl.bench.seed import finished_items, pending_items
from callbackctl.deployment.functions import invoke
from callbackctl.deployment.tables import put_items
from callbackctl.errors import CommandFailed

POLLER_READ_TIMEOUT = 600.0  # a run over many jobs takes longer than boto3's default minute


def add_pending(bench: Bench, count: int) -> None:
    tokens, jobs = pending_items(count, datetime.now(UTC))
    put_items(bench.target, bench.dep.jobs_table, jobs)
    put_items(bench.target, bench.dep.task_tokens_table, tokens)


def poller_run(bench: Bench, expected: int) -> dict[str, Any]:
    """One synchronous poller run over everything pending; wall time and what it did."""
    dep = bench.dep
    bench.counters(reset=True)
    began = time.perf_counter()
    answer = invoke(bench.target, dep.poller_function, {}, read_timeout=POLLER_READ_TIMEOUT)
    seconds = time.perf_counter() - began
    snap = bench.counters(reset=True)
    body = answer.body if isinstance(answer.body, dict) else {}
    if answer.error:
        hint = " (try --poller-concurrency 16)" if "Timedout" in str(body.get("errorType")) else ""
        raise CommandFailed(
            f"the poller failed over {expected} pending jobs: {body.get('errorType')}: {body.get('errorMessage')}{hint}"
        )
    table = dep.task_tokens_table
    return {
        "pending": expected,
        "seconds": round(seconds, 4),
        "summary": body,
        "pollerBilledMs": lambda_count(snap, dep.poller_function).billed_ms,
        "queries": request_count(snap, "dynamodb", "Query", table),
        "queryItems": request_count(snap, "dynamodb", "Query", table, key="items"),
        "queryScanned": request_count(snap, "dynamodb", "Query", table, key="scanned"),
        "scans": request_count(snap, "dynamodb", "Scan", table),
        "apiInvocations": lambda_count(snap, dep.api_function).invocations,
    }


def timed_runs(bench: Bench, pending: int, repeats: int, *, clear_finished: bool) -> list[dict[str, Any]]:
    runs = []
    for _ in range(repeats):
        if clear_finished:
            bench.empty(bench.dep.task_tokens_table)
            bench.empty(bench.dep.jobs_table)
        add_pending(bench, pending)
        run = poller_run(bench, pending)
        if run["summary"].get("checked") != pending:
            raise CommandFailed(f"the poller checked {run['summary'].get('checked')} of {pending} pending jobs")
        runs.append(run)
    return runs


def runs_summary(n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in runs)
    return {
        "pending": n,
        "runs": runs,
        "seconds": seconds,
        "jobsPerSecond": n / seconds,
        "msPerJob": seconds * 1000 / n,
    }


def _sizes(bench: Bench) -> dict[str, Any]:
    s = bench.settings
    bench.log(f"throughput: warm-up run (poller concurrency {bench.dep.poller_concurrency})")
    # Starts one API worker per poller thread and warms the poller: not measured.
    timed_runs(bench, max(100, 4 * bench.dep.poller_concurrency), 1, clear_finished=True)
    sizes: dict[str, Any] = {}
    for n in sorted(s.pending):
        repeats = 1 if n == max(s.pending) and len(s.pending) > 1 else s.repeats
        bench.log(f"throughput: {n:,} pending jobs x {repeats} run(s)")
        sizes[str(n)] = runs_summary(n, timed_runs(bench, n, repeats, clear_finished=True))
    return sizes


def _finished_records(bench: Bench) -> dict[str, Any]:
    s, dep = bench.settings, bench.dep
    bench.log(f"finished records: {s.finished_pending} pending with 0 finished records x {s.repeats} run(s)")
    base = timed_runs(bench, s.finished_pending, s.repeats, clear_finished=True)
    bench.empty(dep.task_tokens_table)
    bench.empty(dep.jobs_table)
    bench.log(f"finished records: inserting {s.finished:,} finished records")
    began = time.monotonic()
    put_items(bench.target, dep.task_tokens_table, finished_items(s.finished, datetime.now(UTC)), workers=8)
    insert_seconds = time.monotonic() - began
    bench.log(f"finished records: {s.finished_pending} pending with {s.finished:,} finished x {s.repeats} run(s)")
    loaded = timed_runs(bench, s.finished_pending, s.repeats, clear_finished=False)
    bench.empty(dep.task_tokens_table, workers=8)
    bench.empty(dep.jobs_table, workers=8)
    base_s = statistics.median(r["seconds"] for r in base)
    loaded_s = statistics.median(r["seconds"] for r in loaded)
    return {
        "finished": s.finished,
        "pending": s.finished_pending,
        "insertSeconds": round(insert_seconds, 2),
        "baselineRuns": base,
        "withFinishedRuns": loaded,
        "baselineSeconds": base_s,
        "withFinishedSeconds": loaded_s,
        "ratio": ratio(loaded_s, base_s),
    }


def throughput(bench: Bench) -> dict[str, Any]:
    bench.set_schedule("DISABLED")
    try:
        time.sleep(bench.interval_seconds + 2)  # a run already fired finishes
        sizes = _sizes(bench)
        finished = _finished_records(bench)
    finally:
        bench.set_schedule("ENABLED")
    small, large = min(bench.settings.pending), max(bench.settings.pending)
    # A run = fixed part (invoke, query, thread pool) + time per job: fitted through both sizes.
    marginal_ms = (
        (sizes[str(large)]["seconds"] - sizes[str(small)]["seconds"]) * 1000 / (large - small)
        if large > small
        else None
    )
    overhead = sizes[str(small)]["seconds"] - small * marginal_ms / 1000 if marginal_ms is not None else None
    return {
        "pollerConcurrency": bench.dep.poller_concurrency,
        "sizes": sizes,
        "timePerJobRatio": ratio(sizes[str(large)]["msPerJob"], sizes[str(small)]["msPerJob"]),
        "timePerJobRatioSizes": [small, large],
        "marginalMsPerJob": marginal_ms,
        "runOverheadSeconds": overhead,
        "finishedRecords": finished,
    }
