"""The bench's pure arithmetic: what happened, turned into billable units (no AWS calls).

Transitions from execution histories, DynamoDB item sizes and request units, Lambda and request
counts from the local cloud's counters snapshot, the token table's writes, one idle poller run.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from callbackctl.cost.usage import Usage, lambda_gb_s

AWS_MAX_TOKEN_CHARS = 2_048  # a task token on AWS is up to 2,048 characters
LEASE_WRITES_PER_RUN = 2  # a run takes its shard's lease and gives it back (two small UpdateItems)
TRANSITION_RULE = (
    "one per state entered (*StateEntered), one per task retry (a second TaskScheduled or "
    "LambdaFunctionScheduled in one state), and one for the execution's start (the cost model's convention)"
)
RULES = {
    "transitions": TRANSITION_RULE,
    "lambda": "requests = executor invocations; GB-s = memory MB / 1024 x billed ms / 1000 (local machine)",
    "ddb_wru": (
        "both job tables: each PutItem/UpdateItem/DeleteItem request (failed conditions included) = "
        "ceil(item KB) WRU at the measured item size; each TransactWriteItems writes one item of each "
        "table, billed double; ByDue index (poll-state table): 1 write per insert, 2 per claim and per "
        "decision (dueAt moves), 1 per finish; the shard lease's 2 writes per run are fixed monthly"
    ),
    "ddb_rru": (
        "ByDue queries: 0.5 RRU per 4 KB returned, at least 0.5 per query; token GetItem (consistent): 1 RRU per 4 KB"
    ),
    "fixed": (
        "static schedule: poller runs, their idle billed time, scheduler invocations and the minimum "
        "query cost are fixed monthly, at the firing rate observed per minute of schedule time"
    ),
    "jobs_table": "the simulated API's Jobs table stands for the external system: left out of both designs",
}


@dataclass(frozen=True)
class Transitions:
    """Billable state transitions found in execution histories (see TRANSITION_RULE)."""

    states_entered: int = 0
    retries: int = 0
    starts: int = 0

    @property
    def total(self) -> int:
        return self.states_entered + self.retries + self.starts

    def __add__(self, other: Transitions) -> Transitions:
        return Transitions(
            self.states_entered + other.states_entered, self.retries + other.retries, self.starts + other.starts
        )


_SCHEDULED = frozenset({"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"})


def count_transitions(events: Iterable[Mapping[str, Any]]) -> Transitions:
    """Count one execution's billable transitions from its history events (in order)."""
    entered = retries = starts = 0
    scheduled_here = 0
    for event in events:
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered"):
            entered += 1
            scheduled_here = 0
        elif kind in _SCHEDULED:
            scheduled_here += 1
            if scheduled_here > 1:
                retries += 1
        elif kind == "ExecutionStarted":
            starts += 1
    return Transitions(entered, retries, starts)


def _number_bytes(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").split("e")[0].split("E")[0].strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def attribute_bytes(value: Mapping[str, Any]) -> int:
    """Size of one DynamoDB attribute value (low-level JSON, e.g. ``{"S": "x"}``) by DynamoDB's rules."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return _number_bytes(str(raw))
    if kind == "B":
        return len(raw) if isinstance(raw, bytes | bytearray) else len(base64.b64decode(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in raw)
    if kind == "NS":
        return sum(_number_bytes(str(n)) for n in raw)
    if kind == "BS":
        return sum(attribute_bytes({"B": b}) for b in raw)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_bytes(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(attribute_bytes(v) + 1 for v in raw)
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Size of a DynamoDB item: attribute names plus values (what write and read units are based on)."""
    return sum(len(name.encode()) + attribute_bytes(value) for name, value in item.items())


def write_units(size_bytes: float) -> int:
    """Write request units of one write of an item this large (1 per started KB, at least 1)."""
    return max(1, math.ceil(size_bytes / 1024))


def query_read_units(queries: int, items: int, item_size: float) -> float:
    """Eventually consistent index queries: 0.5 RRU per 4 KB returned, each query at least 0.5."""
    return 0.5 * max(queries, math.ceil(items * item_size / 4096))


@dataclass(frozen=True)
class LambdaCount:
    invocations: int = 0
    errors: int = 0
    billed_ms: int = 0
    memory_mb: int = 128

    @property
    def gb_s(self) -> float:
        return lambda_gb_s(self.memory_mb, self.billed_ms)

    @property
    def avg_ms(self) -> float:
        return self.billed_ms / self.invocations if self.invocations else 0.0


def lambda_count(snapshot: Mapping[str, Any], function_name: str) -> LambdaCount:
    """One function's invocations from a ``/_localcloud/counters`` snapshot."""
    entry = snapshot.get("lambda", {}).get(function_name)
    if not entry:
        return LambdaCount()
    return LambdaCount(
        int(entry["invocations"]), int(entry["errors"]), int(entry["billedMs"]), int(entry["memoryMb"]) or 128
    )


def request_count(
    snapshot: Mapping[str, Any],
    service: str,
    operations: str | Iterable[str] | None = None,
    resource: str | None = None,
    *,
    key: str = "count",
    internal: bool | None = None,
) -> int:
    """Sum one field (count, errors, items, scanned) of the matching request counter rows."""
    ops = {operations} if isinstance(operations, str) else set(operations) if operations is not None else None
    return sum(
        int(row.get(key, 0))
        for row in snapshot.get("requests", [])
        if row["service"] == service
        and (ops is None or row["operation"] in ops)
        and (resource is None or row["resource"] == resource)
        and (internal is None or row["internal"] == internal)
    )


@dataclass(frozen=True, kw_only=True)
class TokenTableCounts:
    """What the callback design did to the task-token table in one measured window."""

    puts: int
    updates: int  # every UpdateItem request, conditional failures included
    deletes: int
    queries: int
    query_items: int
    finals: int  # records that reached a final status (one index key change each)
    record_bytes: int  # largest record measured (with the poller's lease attributes)
    index_entry_bytes: int
    # The poll-state layout: the poller's two end transactions write one token-record item each
    # (billed double), and the token table has no index of its own any more.
    transactions: int = 0
    indexed: bool = True
    token_reads: int = 0  # consistent GetItems of the token record (heartbeats, decisions)

    def write_units(self, extra_bytes: int = 0) -> float:
        unit = write_units(self.record_bytes + extra_bytes)
        table = (self.puts + self.updates + self.deletes) * unit + self.transactions * 2 * unit
        index = (self.puts + 2 * self.finals) * write_units(self.index_entry_bytes) if self.indexed else 0
        return float(table + index)

    def read_units(self, extra_bytes: int = 0) -> float:
        return float(self.token_reads * math.ceil((self.record_bytes + extra_bytes) / 4096))


@dataclass(frozen=True, kw_only=True)
class PollStateCounts:
    """What the callback design did to the poll-state table (and its ByDue index) in one window.

    Shard leases (two small UpdateItems per run) are the runs' cost, not the jobs': ``lease_writes``
    of the updates are left out here and priced with the fixed part (``IdleRun.write_units``).
    """

    puts: int
    updates: int  # claims, releases and lease writes
    deletes: int
    transactions: int  # each writes one poll-state item (billed double)
    lease_writes: int
    state_bytes: int
    index_entry_bytes: int
    upserts: int = 0  # create_job's UpdateItems that insert a new poll state (one per job started)

    @property
    def claims(self) -> int:
        return max(0, self.updates - self.lease_writes - self.upserts)

    def write_units(self) -> float:
        small = write_units(self.state_bytes)
        inserts = self.puts + self.upserts
        table = (inserts + self.claims + self.deletes) * small + self.transactions * 2 * small
        # ByDue: an insert per new item, a delete + put per moved dueAt (claims; the decision's
        # lease), a delete per finish: 1.5 per transaction (one decision and one finish per job).
        index = (inserts + 2 * self.claims + 1.5 * self.transactions) * write_units(self.index_entry_bytes)
        return float(table + index)


@dataclass(frozen=True, kw_only=True)
class IdleRun:
    """One poller run with nothing pending: what a static schedule costs per firing."""

    poller_gb_s: float
    poller_ms: float
    read_units: float = 0.5
    scheduler_invocations: float = 1.0
    write_units: float = 0.0  # a run's shard lease: taken and given back (poll-state layout: 2)

    def monthly(self, runs_per_month: float) -> Usage:
        return Usage(
            lambda_requests=runs_per_month,
            lambda_gb_s=runs_per_month * self.poller_gb_s,
            scheduler_invocations=runs_per_month * self.scheduler_invocations,
            ddb_rru=runs_per_month * self.read_units,
            ddb_wru=runs_per_month * self.write_units,
        )
