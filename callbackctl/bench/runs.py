"""Timed poller runs over real due jobs, and the raw floor: the same API calls without the poller.

A run is one synchronous invocation of the poller per shard (``{"shard": "n"}``), all shards at once,
with every schedule paused. What it did comes from its summary and from the local cloud's request
counters over exactly that window: index items read, writes per table, callbacks accepted.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from callbackctl.bench.billing import LEASE_WRITES_PER_RUN, request_count
from callbackctl.bench.realpath import epoch_ms_now
from callbackctl.deployment.functions import invoke
from callbackctl.errors import CommandFailed
from common.records import DUE_AT, DUE_SHARD, HEARTBEAT_AT, INTERVAL, TABLE_KEY, Attr

if TYPE_CHECKING:
    from callbackctl.bench.phases import Bench

POLLER_READ_TIMEOUT = 600.0  # a run over many jobs takes longer than boto3's default minute
SENDS = ("SendTaskHeartbeat", "SendTaskSuccess", "SendTaskFailure")


def _invoke_shard(bench: Bench, shard: str) -> dict[str, Any]:
    answer = invoke(bench.target, bench.dep.poller_function, {"shard": shard}, read_timeout=POLLER_READ_TIMEOUT)
    body = answer.body if isinstance(answer.body, dict) else {}
    if answer.error:
        raise CommandFailed(f"the poller failed on shard {shard}: {body.get('errorType')}: {body.get('errorMessage')}")
    return body


def window_counts(bench: Bench, snap: dict[str, Any]) -> dict[str, Any]:
    """What the window's requests did to the two job tables and Step Functions."""
    dep = bench.dep
    poll, tokens = dep.poll_state_table, dep.task_tokens_table
    writes = ("PutItem", "UpdateItem", "DeleteItem")
    return {
        "queries": request_count(snap, "dynamodb", "Query", poll),
        "queryItems": request_count(snap, "dynamodb", "Query", poll, key="items"),
        "pollStateWrites": {op: request_count(snap, "dynamodb", op, poll) for op in writes},
        "tokenTableWrites": {op: request_count(snap, "dynamodb", op, tokens) for op in writes},
        # TransactWriteItems names no single table: each of the poller's writes one item of each table.
        "transactions": request_count(snap, "dynamodb", "TransactWriteItems"),
        "tokenReads": request_count(snap, "dynamodb", "GetItem", tokens),
        "sends": {op: request_count(snap, "stepfunctions", op) for op in SENDS},
        "sendErrors": {op: request_count(snap, "stepfunctions", op, key="errors") for op in SENDS},
        "statusChecks": request_count(snap, "lambda", "Invoke", dep.api_function),
    }


def writes_per_poll(counts: dict[str, Any], polls: int, shard_runs: int) -> dict[str, float | None]:
    """DynamoDB write requests per poll: the poll's own, and with the runs' shard leases spread over it."""
    total = sum(counts["pollStateWrites"].values()) + sum(counts["tokenTableWrites"].values())
    total += 2 * counts["transactions"]  # one write in each table
    own = total - LEASE_WRITES_PER_RUN * shard_runs
    if polls <= 0:
        return {"perPoll": None, "perPollWithLeases": None}
    return {"perPoll": own / polls, "perPollWithLeases": total / polls}


def timed_run(bench: Bench, shards: list[str], expected: int) -> dict[str, Any]:
    """One run per shard, all at once; wall time, summed summaries and the window's counts."""
    bench.counters(reset=True)
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(shards)) as pool:
        bodies = list(pool.map(lambda s: _invoke_shard(bench, s), shards))
    seconds = time.perf_counter() - began
    snap = bench.counters(reset=True)
    summary: Counter[str] = Counter()
    for body in bodies:
        summary.update({k: v for k, v in body.items() if isinstance(v, int)})
    counts = window_counts(bench, snap)
    checked = int(summary["checked"])
    if checked != expected:
        bench.log(f"  WARNING: the run checked {checked} of {expected} due jobs: {dict(summary)}")
    return {
        "shards": len(shards),
        "due": expected,
        "seconds": round(seconds, 3),
        "jobsPerSecond": checked / seconds if seconds > 0 else None,
        "msPerJob": seconds * 1000 / checked if checked else None,
        "summary": dict(summary),
        **counts,
        "writes": writes_per_poll(counts, checked, len(shards)),
    }


def _floor_one(clients: dict[str, Any], bench: Bench, job_id: str, token: str) -> bool:
    """A poll's calls for one running job that owes a heartbeat: claim, status check, token read, heartbeat."""
    dep, ddb = bench.dep, clients["dynamodb"]
    now_ms = epoch_ms_now()
    ddb.update_item(
        TableName=dep.poll_state_table,
        Key={TABLE_KEY: {"S": job_id}},
        UpdateExpression="SET #owner = :owner, #due = :next, #interval = :interval, #hb = :now ADD #attempts :one",
        ConditionExpression="attribute_exists(#shard) AND #due <= :now",
        ExpressionAttributeNames={
            "#owner": Attr.CLAIM_OWNER,
            "#due": DUE_AT,
            "#interval": INTERVAL,
            "#hb": HEARTBEAT_AT,
            "#attempts": Attr.ATTEMPT_COUNT,
            "#shard": DUE_SHARD,
        },
        ExpressionAttributeValues={
            ":owner": {"S": "bench-floor"},
            ":next": {"N": str(now_ms + 60_000)},
            ":interval": {"N": "3000"},
            ":now": {"N": str(now_ms)},
            ":one": {"N": "1"},
        },
        ReturnValues="ALL_NEW",
    )
    payload = json.dumps({"action": "CHECK_STATUS", "jobId": job_id}).encode()
    clients["lambda"].invoke(FunctionName=dep.api_function, Payload=payload)["Payload"].read()
    ddb.get_item(TableName=dep.task_tokens_table, Key={TABLE_KEY: {"S": job_id}}, ConsistentRead=True)
    clients["stepfunctions"].send_task_heartbeat(taskToken=token)
    return True


def floor_run(bench: Bench, tokens: dict[str, str], concurrency: int, window: float | None = None) -> dict[str, Any]:
    """The raw floor: the poll's API calls for every job, ``concurrency`` at a time, no poller logic.
    With ``window`` (seconds; the timed poller run's), jobs not begun by then are left, as the
    poller leaves what its deadline does not reach: the same rate in no more time than the run."""
    clients = {name: bench.target.client(name) for name in ("dynamodb", "lambda", "stepfunctions")}
    bench.counters(reset=True)
    began = time.perf_counter()
    ends = math.inf if window is None else began + window

    def one(pair: tuple[str, str]) -> bool:
        return time.perf_counter() < ends and _floor_one(clients, bench, *pair)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        done = sum(pool.map(one, tokens.items()))
    seconds = time.perf_counter() - began
    snap = bench.counters(reset=True)
    counts = window_counts(bench, snap)
    return {
        "jobs": done,
        "concurrency": concurrency,
        "windowSeconds": window,
        "seconds": round(seconds, 3),
        "jobsPerSecond": done / seconds if seconds > 0 else None,
        "calls": "UpdateItem (claim), Invoke (CHECK_STATUS), GetItem (token), SendTaskHeartbeat",
        **counts,
        "owner": f"bench-floor-{uuid.uuid4().hex[:6]}",
    }
