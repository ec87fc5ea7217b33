"""callbackctl bench: measure the callback design against a polling loop on the local cloud.

One run (``make bench``):

1. Start the local cloud (unless it runs), deploy the callback stack and the baseline stack
   ``PollingLoopBaseline`` (``-c baseline=true``: Wait -> CheckStatus -> Choice on its own copy of
   the simulated API), with the scheduler clock sped up so ``rate(1 minute)`` fires every few seconds.
2. Idle: let the poller's schedule fire with nothing pending, to measure what a static schedule
   costs whatever the volume (one poller run, one scheduler invocation, one index query per run).
3. Cost: for each polls-per-job setting, run the same jobs through both designs at once and count
   from the execution histories (state transitions) and the local cloud's counters (Lambda
   invocations and billed milliseconds per function, scheduler firings, DynamoDB requests per
   table). The counts become :class:`cost.MeasuredUsage` and are priced by the cost model; the
   formula (:func:`cost.design_usage`) is computed alongside and every metric where the two disagree
   is printed.
4. Poller throughput: with the schedule disabled, put N pending jobs (N = 100 and 1,000) straight
   into the tables (fake task tokens: Step Functions answers InvalidToken and the poller marks
   each job EXPIRED, after the same claim, status check and send as a real job) and time one
   synchronous poller run. Then the same with 10,000 finished records in the task-token table.
5. Print a table and write every figure to ``bench-results/bench-<timestamp>.json`` and
   ``bench-results/latest.json``.

Rules used to turn what happened into billable units (also in the JSON under ``rules``):

- State transitions: one per state entered (each ``*StateEntered`` history event), one per task
  retry (a second ``TaskScheduled``/``LambdaFunctionScheduled`` within one state), and one for
  the execution's start, the convention of the cost model (``callback_transitions = 3``: start,
  CreateJob, Succeed).
- Lambda: requests = invocations the local cloud's executor ran; GB-s = memory / 1024 x billed ms
  / 1000 from the executor (the REPORT line's billed duration, on this machine, not on AWS).
- DynamoDB (task-token table only; the simulated API's Jobs table stands for the external system
  and is left out of both designs, as in the cost model): every PutItem/UpdateItem/DeleteItem
  request, conditional failures included, costs ceil(item KB) write units, with the item size
  measured from the records the run left behind (DynamoDB's size rules). The ``ByStatus`` index is
  KEYS_ONLY: one index write per new record, two when the status (the index key) changes, none
  for other updates. An index query costs 0.5 read units per 4 KB returned, at least 0.5.
- A static schedule's runs are a fixed monthly cost, not a per-job one: the poller's invocations,
  their idle billed time, the scheduler invocations and the minimum query cost are priced once a
  month (at the firing rate observed here, per minute of schedule time). Per job is what the jobs
  add on top: the "marginal" cost per 1,000 jobs. The "at volume" figure adds the fixed part
  spread over ``--jobs-per-month``.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from callbackctl import cost
from callbackctl.cost import Design, LambdaProfile, MeasuredUsage, Usage, Workload
from callbackctl.ops import set_schedule_state
from callbackctl.targets import STACK_NAME, Target, UsageError

BASELINE_STACK_NAME = "PollingLoopBaseline"  # stacks/polling_loop.py (not imported: no CDK here)
ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench-results"
LOCAL_ACCOUNT = "000000000000"
AWS_MAX_TOKEN_CHARS = 2_048  # a task token on AWS is up to 2,048 characters
# The poller's lease attributes, present on a record while a run holds it (poller/store.py).
CLAIM_ATTRIBUTES = {"claimOwner": {"S": "poller-0123456789ab"}, "claimUntil": {"N": "1790000000"}}
FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "MAX_ATTEMPTS", "EXPIRED"})
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

TRANSITION_RULE = (
    "one per state entered (*StateEntered), one per task retry (a second TaskScheduled or "
    "LambdaFunctionScheduled in one state), and one for the execution's start (cost.py's convention)"
)
RULES = {
    "transitions": TRANSITION_RULE,
    "lambda": "requests = executor invocations; GB-s = memory MB / 1024 x billed ms / 1000 (local machine)",
    "ddb_wru": (
        "task-token table only: each PutItem/UpdateItem/DeleteItem request (failed conditions included) "
        "= ceil(item KB) WRU at the largest measured record size; KEYS_ONLY index: 1 write per new "
        "record, 2 per status change"
    ),
    "ddb_rru": "index queries: 0.5 RRU per 4 KB returned, at least 0.5 per query",
    "fixed": (
        "static schedule: poller runs, their idle billed time, scheduler invocations and the minimum "
        "query cost are fixed monthly, at the firing rate observed per minute of schedule time"
    ),
    "jobs_table": "the simulated API's Jobs table stands for the external system: left out of both designs",
}


# =========================================================================== pure parts


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
        return cost.lambda_gb_s(self.memory_mb, self.billed_ms)

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

    def write_units(self, extra_bytes: int = 0) -> float:
        table = (self.puts + self.updates + self.deletes) * write_units(self.record_bytes + extra_bytes)
        index = (self.puts + 2 * self.finals) * write_units(self.index_entry_bytes)
        return float(table + index)


@dataclass(frozen=True, kw_only=True)
class IdleRun:
    """One poller run with nothing pending: what a static schedule costs per firing."""

    poller_gb_s: float
    poller_ms: float
    read_units: float = 0.5
    scheduler_invocations: float = 1.0

    def monthly(self, runs_per_month: float) -> Usage:
        return Usage(
            lambda_requests=runs_per_month,
            lambda_gb_s=runs_per_month * self.poller_gb_s,
            scheduler_invocations=runs_per_month * self.scheduler_invocations,
            ddb_rru=runs_per_month * self.read_units,
        )


def loop_measured(*, jobs: int, transitions: Transitions, api: LambdaCount) -> MeasuredUsage:
    """The polling loop's measured usage: every call comes from the state machine, nothing is fixed."""
    total = Usage(transitions=transitions.total, lambda_requests=api.invocations, lambda_gb_s=api.gb_s)
    return MeasuredUsage.from_totals(total, jobs)


def callback_measured(
    *,
    jobs: int,
    transitions: Transitions,
    create_job: LambdaCount,
    api: LambdaCount,
    poller: LambdaCount,
    table: TokenTableCounts,
    idle: IdleRun,
    runs_per_month: float,
    extra_token_bytes: int = 0,
) -> MeasuredUsage:
    """The callback design's measured usage: per job what the jobs added, fixed what the schedule costs.

    The window's poller runs are counted as fixed (they happen whatever the volume); only their billed
    time above an idle run's, and their reads above the minimum, are the jobs' share.
    """
    poller_extra_gb_s = max(0.0, poller.gb_s - poller.invocations * idle.poller_gb_s)
    rru = query_read_units(table.queries, table.query_items, table.index_entry_bytes)
    total = Usage(
        transitions=transitions.total,
        lambda_requests=create_job.invocations + api.invocations,
        lambda_gb_s=create_job.gb_s + api.gb_s + poller_extra_gb_s,
        ddb_wru=table.write_units(extra_token_bytes),
        ddb_rru=max(0.0, rru - 0.5 * table.queries),
    )
    return MeasuredUsage.from_totals(total, jobs, fixed_monthly=idle.monthly(runs_per_month))


def calibrated_workload(
    *,
    polls: int,
    jobs_per_month: int,
    create_job: LambdaCount,
    api: LambdaCount,
    poller_memory_mb: int,
    idle: IdleRun,
    poller_per_job_ms: float,
    record_bytes: int,
) -> Workload:
    """The cost model's formula inputs, set to what was measured (memory, durations, item size), so a
    difference between formula and measurement is about the counts, not the inputs."""
    return Workload(
        jobs_per_month=jobs_per_month,
        polls_per_job=polls,
        create_job=LambdaProfile(create_job.memory_mb, create_job.avg_ms),
        api_create=LambdaProfile(api.memory_mb, api.avg_ms),
        api_check=LambdaProfile(api.memory_mb, api.avg_ms),
        poller=LambdaProfile(poller_memory_mb, idle.poller_ms),
        poller_per_job_ms=poller_per_job_ms,
        token_item_kb=max(record_bytes, 1) / 1024,
    )


@dataclass(frozen=True)
class Disagreement:
    design: str
    part: str  # per_job | fixed_monthly
    metric: str
    formula: float
    measured: float

    @property
    def pct(self) -> float | None:
        """(measured - formula) / formula, in percent; None when the formula says 0."""
        if self.formula == 0:
            return None
        return (self.measured - self.formula) / self.formula * 100

    def describe(self) -> str:
        pct = "formula 0" if self.pct is None else f"{self.pct:+.1f}%"
        return (
            f"{self.design} {self.metric} ({self.part}): "
            f"formula {_num(self.formula)}, measured {_num(self.measured)} ({pct})"
        )


def compare(
    design: str, formula: MeasuredUsage, measured: MeasuredUsage, *, tolerance_pct: float = 5.0, floor: float = 1e-9
) -> list[Disagreement]:
    """Every metric where formula and measurement differ by more than ``tolerance_pct`` percent."""
    out = []
    for part in ("per_job", "fixed_monthly"):
        f_usage, m_usage = getattr(formula, part), getattr(measured, part)
        for metric in cost.USAGE_FIELDS:
            f, m = float(getattr(f_usage, metric)), float(getattr(m_usage, metric))
            if abs(f - m) <= floor:
                continue
            if f == 0 or abs(m - f) / abs(f) * 100 > tolerance_pct:
                out.append(Disagreement(design, part, metric, f, m))
    return out


@dataclass(frozen=True)
class CostFigures:
    """Dollars per 1,000 jobs for both designs: marginal, and with the fixed part at a monthly volume."""

    callback_marginal: float
    loop_marginal: float
    callback_at_volume: float
    loop_at_volume: float
    jobs_per_month: int

    @property
    def ratio_marginal(self) -> float | None:
        return _ratio(self.callback_marginal, self.loop_marginal)

    @property
    def ratio_at_volume(self) -> float | None:
        return _ratio(self.callback_at_volume, self.loop_at_volume)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio_marginal": self.ratio_marginal, "ratio_at_volume": self.ratio_at_volume}


def cost_figures(
    callback: MeasuredUsage, loop: MeasuredUsage, jobs_per_month: int, prices: cost.Prices | None = None
) -> CostFigures:
    """Price both designs with the cost model (no free tier)."""
    est = cost.estimate_measured(callback, loop, jobs_per_month, prices=prices)
    per_1000 = 1000 / jobs_per_month if jobs_per_month else 0.0
    return CostFigures(
        callback_marginal=cost.price_usage(callback.per_job.scaled(1000), prices=prices).total_usd,
        loop_marginal=cost.price_usage(loop.per_job.scaled(1000), prices=prices).total_usd,
        callback_at_volume=est.callback.total_usd * per_1000,
        loop_at_volume=est.loop.total_usd * per_1000,
        jobs_per_month=jobs_per_month,
    )


def price_phase(phase: dict[str, Any], fixed_monthly: Usage, settings: BenchSettings) -> None:
    """Add the static schedule's fixed monthly part to the callback's measured usage (the loop has
    none), price both designs, and compare them with the formula."""
    measured = {
        k: replace(m, fixed_monthly=fixed_monthly) if k.startswith("callback") else m
        for k, m in phase["_measured"].items()
    }
    formula = phase["_formula"]
    disagreements = compare(
        "callback", formula["callback"], measured["callback"], tolerance_pct=settings.tolerance_pct
    ) + compare("loop", formula["loop"], measured["loop"], tolerance_pct=settings.tolerance_pct)
    phase["loop"]["measured"] = _measured_dict(measured["loop"])
    phase["callback"]["measured"] = _measured_dict(measured["callback"])
    phase["callback"]["measuredWithAwsSizedToken"] = _measured_dict(measured["callbackAwsToken"])
    phase["disagreements"] = [{**asdict(d), "pct": d.pct} for d in disagreements]
    phase["cost"] = cost_figures(measured["callback"], measured["loop"], settings.jobs_per_month).to_dict()
    phase["costWithAwsSizedToken"] = cost_figures(
        measured["callbackAwsToken"], measured["loop"], settings.jobs_per_month
    ).to_dict()
    phase["gbSecondsSharePct"] = {
        "callback": gb_s_share_pct(measured["callback"]),
        "loop": gb_s_share_pct(measured["loop"]),
    }


def gb_s_share_pct(measured: MeasuredUsage, prices: cost.Prices | None = None) -> float:
    """The part of a design's marginal cost that is Lambda duration (GB-s), in percent."""
    priced = cost.price_usage(measured.per_job.scaled(1000), prices=prices)
    duration = sum(line.cost_usd for line in priced.lines if line.item == "GB-seconds")
    return duration / priced.total_usd * 100 if priced.total_usd > 0 else 0.0


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def _num(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 0.01:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


# =========================================================================== settings


@dataclass(frozen=True, kw_only=True)
class BenchSettings:
    jobs: int = 10  # jobs per design per polls-per-job setting
    polls: tuple[int, ...] = (1, 3, 10)
    pending: tuple[int, ...] = (100, 1_000)
    finished: int = 10_000
    finished_pending: int = 100
    repeats: int = 5  # timed poller runs per size (median); one for the largest
    jobs_per_month: int = 100_000
    clock_speed: float = 30.0  # rate(1 minute) fires every 2 s
    # The local stage's 4 threads take ~45 s over 1,000 jobs here, close to the poller's 60 s timeout;
    # the bench deploys with 16 (None: the stage's setting).
    poller_concurrency: int | None = 16
    idle_seconds: float = 10.0
    tolerance_pct: float = 5.0

    def __post_init__(self) -> None:
        if self.jobs < 1 or not self.polls or min(self.polls) < 1 or max(self.polls) > 100:
            raise ValueError("jobs must be >= 1 and polls per job between 1 and 100")
        if not self.pending or min(self.pending) < 1 or self.finished < 0 or self.repeats < 1:
            raise ValueError("pending sizes must be >= 1, finished >= 0, repeats >= 1")


QUICK = BenchSettings(jobs=3, polls=(1, 3), pending=(100, 300), finished=2_000, repeats=1, idle_seconds=6.0)


# =========================================================================== the run


def _log(start: float, message: str) -> None:
    elapsed = int(time.monotonic() - start)
    print(f"[bench {elapsed // 60}:{elapsed % 60:02d}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True, kw_only=True)
class Deployment:
    target: Target
    endpoint: str
    state_machine_arn: str  # callback
    task_tokens_table: str
    jobs_table: str
    create_job_function: str
    poller_function: str
    api_function: str
    poller_schedule: str
    loop_state_machine_arn: str
    loop_api_function: str
    loop_jobs_table: str
    memory_mb: dict[str, int]
    poller_concurrency: int
    clock_speed: float


def _deploy(target: Target, settings: BenchSettings) -> None:
    from callbackctl import ops

    context = {"stage": "local", "baseline": "true", "scheduleClockSpeed": f"{settings.clock_speed:g}"}
    if settings.poller_concurrency is not None:
        context["pollerConcurrency"] = str(settings.poller_concurrency)
    args = [arg for key, value in context.items() for arg in ("-c", f"{key}={value}")]
    # A cloud assembly of its own: `cdk.out` may be in use by another deploy or synth.
    with tempfile.TemporaryDirectory(prefix="cdk.out.bench-") as out:
        if not ops._bootstrapped(target):
            ops._cdk(target, ["bootstrap", f"aws://{LOCAL_ACCOUNT}/{target.region}", "-o", out])
        ops._cdk(
            target,
            [
                "deploy",
                STACK_NAME,
                BASELINE_STACK_NAME,
                *args,
                "--require-approval",
                "never",
                "--progress",
                "events",
                "--concurrency",
                "2",
                "-o",
                out,
            ],
        )


def _outputs(target: Target, stack: str) -> dict[str, str]:
    stacks = target.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def _deployment(target: Target, endpoint: str, clock_speed: float) -> Deployment:
    from callbackctl.stackinfo import stack_info

    info = stack_info(target)
    loop = _outputs(target, BASELINE_STACK_NAME)
    lam = target.client("lambda")
    functions = (
        info.create_job_function,
        info.poller_function,
        info.simulated_api_function,
        loop["SimulatedApiFunctionName"],
    )
    configs = {name: lam.get_function_configuration(FunctionName=name) for name in functions}
    poller_env = configs[info.poller_function].get("Environment", {}).get("Variables", {})
    return Deployment(
        target=target,
        endpoint=endpoint,
        state_machine_arn=info.state_machine_arn,
        task_tokens_table=info.task_tokens_table,
        jobs_table=info.jobs_table,
        create_job_function=info.create_job_function,
        poller_function=info.poller_function,
        api_function=info.simulated_api_function,
        poller_schedule=info.poller_schedule,
        loop_state_machine_arn=loop["StateMachineArn"],
        loop_api_function=loop["SimulatedApiFunctionName"],
        loop_jobs_table=loop["JobsTableName"],
        memory_mb={name: int(c["MemorySize"]) for name, c in configs.items()},
        poller_concurrency=int(poller_env.get("POLLER_CONCURRENCY", "0") or 0),
        clock_speed=clock_speed,
    )


class Bench:
    def __init__(self, dep: Deployment, settings: BenchSettings, started: float) -> None:
        self.dep = dep
        self.settings = settings
        self.started = started
        self.target = dep.target
        self.sfn = dep.target.client("stepfunctions")
        self.ddb = dep.target.client("dynamodb")

    def log(self, message: str) -> None:
        _log(self.started, message)

    # --- local cloud counters ------------------------------------------------------------------

    def counters(self, *, reset: bool) -> dict[str, Any]:
        from localcloud.core import counters

        return counters(self.dep.endpoint, reset=reset)

    def schedule_firings(self) -> int:
        from localcloud.core import scheduler_stats

        stats = scheduler_stats(self.dep.endpoint)
        suffix = f"/{self.dep.poller_schedule}"
        return sum(int(s.get("fired", 0)) for arn, s in stats.get("schedules", {}).items() if arn.endswith(suffix))

    def set_schedule(self, state: str) -> None:
        set_schedule_state(self.target, self.dep.poller_schedule, state)

    @property
    def interval_seconds(self) -> float:
        return 60 / self.dep.clock_speed

    # --- tables --------------------------------------------------------------------------------

    def empty(self, table: str, workers: int = 4) -> None:
        """Delete every item (keys from a scan, batch deletes in parallel)."""
        keys: list[dict[str, Any]] = []
        for page in self.ddb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="jobId"):
            keys.extend(page["Items"])

        def delete(chunk: Sequence[dict[str, Any]]) -> None:
            pending: dict[str, Any] = {table: [{"DeleteRequest": {"Key": key}} for key in chunk]}
            while pending:
                pending = self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(delete, [keys[i : i + 25] for i in range(0, len(keys), 25)]))

    def scan(self, table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items.extend(page["Items"])
        return items

    def batch_put(self, table: str, items: Sequence[dict[str, Any]], workers: int = 4) -> None:
        def put(chunk: Sequence[dict[str, Any]]) -> None:
            pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
            while pending:
                pending = self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

        chunks = [items[i : i + 25] for i in range(0, len(items), 25)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(put, chunks))

    # --- executions ----------------------------------------------------------------------------

    def start_executions(self, arn: str, inputs: Sequence[dict[str, Any]], prefix: str) -> list[str]:
        def start(pair: tuple[int, dict[str, Any]]) -> str:
            index, execution_input = pair
            name = f"{prefix}-{uuid.uuid4().hex[:8]}-{index:03d}"
            return str(
                self.sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(execution_input))[
                    "executionArn"
                ]
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(start, enumerate(inputs)))

    def wait_all(self, arns: Sequence[str], timeout: float, what: str) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        statuses: dict[str, str] = {}
        with ThreadPoolExecutor(max_workers=8) as pool:
            while True:
                pending = [a for a in arns if statuses.get(a) not in TERMINAL]
                if not pending:
                    return statuses
                if time.monotonic() > deadline:
                    raise UsageError(
                        f"{what}: {len(pending)} of {len(arns)} executions still running after {timeout:.0f} s"
                    )
                for arn, status in zip(
                    pending,
                    pool.map(lambda a: self.sfn.describe_execution(executionArn=a)["status"], pending),
                    strict=True,
                ):
                    statuses[arn] = status
                time.sleep(0.5)

    def transitions(self, arns: Sequence[str]) -> Transitions:
        def one(arn: str) -> Transitions:
            events: list[dict[str, Any]] = []
            for page in self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
                events.extend(page["events"])
            return count_transitions(events)

        total = Transitions()
        with ThreadPoolExecutor(max_workers=8) as pool:
            for each in pool.map(one, arns):
                total = total + each
        return total

    # --- phases --------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Both designs once, unmeasured, so the measured phases run on warm Lambda workers."""
        s, dep = self.settings, self.dep
        execution_input = {"simulate": {"outcome": "SUCCEED", "completionPolls": 1}, "payload": {"warmUp": True}}
        arns = [
            *self.start_executions(dep.loop_state_machine_arn, [execution_input] * s.jobs, "bench-warm-loop"),
            *self.start_executions(dep.state_machine_arn, [execution_input] * s.jobs, "bench-warm-cb"),
        ]
        self.wait_all(arns, 60 + 4 * self.interval_seconds, "warm-up")

    def idle(self) -> dict[str, Any]:
        """Let the schedule fire with nothing pending; measure one idle run."""
        self.empty(self.dep.task_tokens_table)
        time.sleep(self.interval_seconds + 1)  # the first runs start the poller's worker: not measured
        fired_before = self.schedule_firings()
        self.counters(reset=True)
        began = time.monotonic()
        time.sleep(self.settings.idle_seconds)
        snap = self.counters(reset=True)
        seconds = time.monotonic() - began
        fired = self.schedule_firings() - fired_before
        poller = lambda_count(snap, self.dep.poller_function)
        if poller.invocations == 0:
            raise UsageError(
                f"the poller's schedule did not fire in {seconds:.0f} s; is the scheduler running "
                f"(clock speed {self.dep.clock_speed:g})?"
            )
        queries = request_count(snap, "dynamodb", "Query", self.dep.task_tokens_table)
        idle = IdleRun(
            poller_gb_s=poller.gb_s / poller.invocations,
            poller_ms=poller.avg_ms,
            read_units=0.5 * queries / poller.invocations,
        )
        return {
            "seconds": round(seconds, 2),
            "firings": fired,
            "pollerRuns": poller.invocations,
            "pollerAvgBilledMs": round(poller.avg_ms, 2),
            "pollerMemoryMb": poller.memory_mb,
            "queries": queries,
            "idleRun": asdict(idle),
            "_idle": idle,
            "counters": snap,
        }

    def cost_phase(self, polls: int, idle: IdleRun) -> dict[str, Any]:
        """The same jobs through both designs at once; counts per design (priced by :func:`price_phase`)."""
        s, dep = self.settings, self.dep
        self.empty(dep.task_tokens_table)
        execution_input = {
            "simulate": {"outcome": "SUCCEED", "completionPolls": polls},
            "payload": {"bench": True, "pollsPerJob": polls},
        }
        fired_before = self.schedule_firings()
        self.counters(reset=True)
        began = time.monotonic()
        loop_arns = self.start_executions(
            dep.loop_state_machine_arn, [execution_input] * s.jobs, f"bench-loop-p{polls}"
        )
        callback_arns = self.start_executions(dep.state_machine_arn, [execution_input] * s.jobs, f"bench-cb-p{polls}")
        timeout = 60 + polls * self.interval_seconds * 4
        statuses = self.wait_all([*loop_arns, *callback_arns], timeout, f"{polls} polls per job")
        # The run that resumed the last execution writes the final status right after the send.
        deadline = time.monotonic() + 30
        while True:
            records = self.scan(dep.task_tokens_table)
            if all(r["status"]["S"] in FINAL_STATUSES for r in records) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(1.0)
        snap = self.counters(reset=True)
        seconds = time.monotonic() - began
        fired = self.schedule_firings() - fired_before
        failed = {a: st for a, st in statuses.items() if st != "SUCCEEDED"}
        if failed:
            raise UsageError(f"{len(failed)} bench executions did not succeed: {sorted(set(failed.values()))}")

        loop_t, cb_t = self.transitions(loop_arns), self.transitions(callback_arns)
        loop_api = lambda_count(snap, dep.loop_api_function)
        create_job = lambda_count(snap, dep.create_job_function)
        api = lambda_count(snap, dep.api_function)
        poller = lambda_count(snap, dep.poller_function)

        table = dep.task_tokens_table
        sizes = [item_bytes({**r, **CLAIM_ATTRIBUTES}) for r in records]
        token_chars = max((len(r["taskToken"]["S"]) for r in records), default=0)
        example = records[0] if records else {}
        index_entry: dict[str, Any] = {k: example[k] for k in ("jobId", "status", "createdAt") if k in example}
        counts = TokenTableCounts(
            puts=request_count(snap, "dynamodb", "PutItem", table),
            updates=request_count(snap, "dynamodb", "UpdateItem", table),
            deletes=request_count(snap, "dynamodb", "DeleteItem", table),
            queries=request_count(snap, "dynamodb", "Query", table),
            query_items=request_count(snap, "dynamodb", "Query", table, key="items"),
            finals=sum(1 for r in records if r["status"]["S"] in FINAL_STATUSES),
            record_bytes=max(sizes, default=0),
            index_entry_bytes=item_bytes(index_entry),
        )
        runs_per_month = 0.0  # the fixed part is set by price_phase, from the whole run's firing rate
        loop_m = loop_measured(jobs=s.jobs, transitions=loop_t, api=loop_api)
        cb_m = callback_measured(
            jobs=s.jobs,
            transitions=cb_t,
            create_job=create_job,
            api=api,
            poller=poller,
            table=counts,
            idle=idle,
            runs_per_month=runs_per_month,
        )
        extra = max(0, AWS_MAX_TOKEN_CHARS - token_chars)
        cb_aws_token = callback_measured(
            jobs=s.jobs,
            transitions=cb_t,
            create_job=create_job,
            api=api,
            poller=poller,
            table=counts,
            idle=idle,
            runs_per_month=runs_per_month,
            extra_token_bytes=extra,
        )
        checks = max(1, api.invocations - create_job.invocations)  # CHECK_STATUS calls by the poller
        poller_per_job_ms = max(0.0, poller.billed_ms - poller.invocations * idle.poller_ms) / checks
        workload = calibrated_workload(
            polls=polls,
            jobs_per_month=s.jobs_per_month,
            create_job=create_job,
            api=api,
            poller_memory_mb=poller.memory_mb,
            idle=idle,
            poller_per_job_ms=poller_per_job_ms,
            record_bytes=counts.record_bytes,
        )
        # The loop drives its own copy of the API: its formula uses that copy's durations.
        loop_api_profile = LambdaProfile(loop_api.memory_mb, loop_api.avg_ms)
        formula = {
            "callback": cost.design_usage(workload, Design.CALLBACK),
            "loop": cost.design_usage(
                replace(workload, api_create=loop_api_profile, api_check=loop_api_profile), Design.LOOP
            ),
        }
        sends = {
            op: request_count(snap, "stepfunctions", op)
            for op in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")
        }
        return {
            "pollsPerJob": polls,
            "jobs": s.jobs,
            "seconds": round(seconds, 2),
            "scheduleFirings": fired,
            "loop": {
                "transitions": {**asdict(loop_t), "total": loop_t.total},
                "lambda": {dep.loop_api_function: asdict(loop_api)},
                "formula": _measured_dict(formula["loop"]),
            },
            "callback": {
                "transitions": {**asdict(cb_t), "total": cb_t.total},
                "lambda": {
                    dep.create_job_function: asdict(create_job),
                    dep.api_function: asdict(api),
                    dep.poller_function: asdict(poller),
                },
                "pollerRuns": poller.invocations,
                "pollerPerCheckMs": round(poller_per_job_ms, 2),
                "stepFunctionsSends": sends,
                "taskTokenTable": {**asdict(counts), "tokenChars": token_chars, "writeUnits": counts.write_units()},
                "formula": _measured_dict(formula["callback"]),
            },
            "formulaWorkload": _workload_dict(workload),
            "counters": snap,
            "_measured": {"callback": cb_m, "callbackAwsToken": cb_aws_token, "loop": loop_m},
            "_formula": formula,
        }

    def _pending_items(self, count: int, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        tokens, jobs = [], []
        stamp = now.isoformat(timespec="seconds").replace("+00:00", "Z")
        expires = str(int((now + timedelta(days=1)).timestamp()))
        for index in range(count):
            job_id = f"bench-{uuid.uuid4()}"
            created = (now + timedelta(microseconds=index)).isoformat().replace("+00:00", "Z")
            tokens.append(
                {
                    "jobId": {"S": job_id},
                    "taskToken": {"S": f"bench-fake-token-{uuid.uuid4()}"},
                    "executionArn": {"S": f"arn:aws:states:us-east-1:{LOCAL_ACCOUNT}:execution:bench:{job_id}"},
                    "status": {"S": "POLLING"},
                    "attemptCount": {"N": "0"},
                    "maxAttempts": {"N": "10"},
                    "createdAt": {"S": created},
                    "updatedAt": {"S": stamp},
                    "expiresAt": {"N": expires},
                }
            )
            jobs.append(
                {
                    "jobId": {"S": job_id},
                    "status": {"S": "IN_PROGRESS"},
                    "outcome": {"S": "SUCCEED"},
                    "pollCount": {"N": "0"},
                    "completionPolls": {"N": "100"},
                    "payload": {"M": {}},
                    "createdAt": {"S": stamp},
                    "updatedAt": {"S": stamp},
                }
            )
        return tokens, jobs

    def add_pending(self, count: int) -> None:
        tokens, jobs = self._pending_items(count, datetime.now(UTC))
        self.batch_put(self.dep.jobs_table, jobs)
        self.batch_put(self.dep.task_tokens_table, tokens)

    def add_finished(self, count: int) -> None:
        now = datetime.now(UTC)
        tokens, _ = self._pending_items(count, now - timedelta(hours=1))
        for item in tokens:
            item["status"] = {"S": "COMPLETED"}
            item["finalDetail"] = {"S": ""}
        self.batch_put(self.dep.task_tokens_table, tokens, workers=8)

    def poller_run(self, expected: int) -> dict[str, Any]:
        """One synchronous poller run over everything pending; wall time and what it did."""
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "lambda",
            endpoint_url=self.dep.endpoint,
            region_name=self.target.region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(read_timeout=600, connect_timeout=10, retries={"total_max_attempts": 1}),
        )
        self.counters(reset=True)
        began = time.perf_counter()
        response = client.invoke(FunctionName=self.dep.poller_function, Payload=b"{}")
        seconds = time.perf_counter() - began
        body = json.loads(response["Payload"].read() or b"null")
        snap = self.counters(reset=True)
        if response.get("FunctionError"):
            raise UsageError(
                f"the poller failed over {expected} pending jobs: {body.get('errorType')}: {body.get('errorMessage')}"
                + (" (try --poller-concurrency 16)" if "Timedout" in str(body.get("errorType")) else "")
            )
        table = self.dep.task_tokens_table
        return {
            "pending": expected,
            "seconds": round(seconds, 4),
            "summary": body,
            "pollerBilledMs": lambda_count(snap, self.dep.poller_function).billed_ms,
            "queries": request_count(snap, "dynamodb", "Query", table),
            "queryItems": request_count(snap, "dynamodb", "Query", table, key="items"),
            "queryScanned": request_count(snap, "dynamodb", "Query", table, key="scanned"),
            "scans": request_count(snap, "dynamodb", "Scan", table),
            "apiInvocations": lambda_count(snap, self.dep.api_function).invocations,
        }

    def timed_runs(self, pending: int, repeats: int, *, clear_finished: bool) -> list[dict[str, Any]]:
        runs = []
        for _ in range(repeats):
            if clear_finished:
                self.empty(self.dep.task_tokens_table)
                self.empty(self.dep.jobs_table)
            self.add_pending(pending)
            run = self.poller_run(pending)
            if run["summary"].get("checked") != pending:
                raise UsageError(f"the poller checked {run['summary'].get('checked')} of {pending} pending jobs")
            runs.append(run)
        return runs

    def throughput(self) -> dict[str, Any]:
        s, dep = self.settings, self.dep
        self.set_schedule("DISABLED")
        try:
            time.sleep(self.interval_seconds + 2)  # a run already fired finishes
            self.log(f"throughput: warm-up run (poller concurrency {dep.poller_concurrency})")
            # Starts one API worker per poller thread and warms the poller: not measured.
            self.timed_runs(max(100, 4 * dep.poller_concurrency), 1, clear_finished=True)
            sizes: dict[str, Any] = {}
            for n in sorted(s.pending):
                repeats = 1 if n == max(s.pending) and len(s.pending) > 1 else s.repeats
                self.log(f"throughput: {n:,} pending jobs x {repeats} run(s)")
                runs = self.timed_runs(n, repeats, clear_finished=True)
                sizes[str(n)] = _runs_summary(n, runs)
            self.log(f"finished records: {s.finished_pending} pending with 0 finished records x {s.repeats} run(s)")
            base = self.timed_runs(s.finished_pending, s.repeats, clear_finished=True)
            self.empty(dep.task_tokens_table)
            self.empty(dep.jobs_table)
            self.log(f"finished records: inserting {s.finished:,} finished records")
            began = time.monotonic()
            self.add_finished(s.finished)
            insert_seconds = time.monotonic() - began
            self.log(
                f"finished records: {s.finished_pending} pending with {s.finished:,} finished x {s.repeats} run(s)"
            )
            loaded = self.timed_runs(s.finished_pending, s.repeats, clear_finished=False)
            self.empty(dep.task_tokens_table, workers=8)
            self.empty(dep.jobs_table, workers=8)
        finally:
            self.set_schedule("ENABLED")
        small, large = str(min(s.pending)), str(max(s.pending))
        per_job_ratio = _ratio(sizes[large]["msPerJob"], sizes[small]["msPerJob"])
        # A run = fixed part (invoke, query, thread pool) + time per job: fitted through both sizes.
        extra_jobs = int(large) - int(small)
        marginal_ms = (sizes[large]["seconds"] - sizes[small]["seconds"]) * 1000 / extra_jobs if extra_jobs else None
        base_s = statistics.median(r["seconds"] for r in base)
        loaded_s = statistics.median(r["seconds"] for r in loaded)
        return {
            "pollerConcurrency": dep.poller_concurrency,
            "sizes": sizes,
            "timePerJobRatio": per_job_ratio,
            "timePerJobRatioSizes": [int(small), int(large)],
            "marginalMsPerJob": marginal_ms,
            "runOverheadSeconds": (
                sizes[small]["seconds"] - int(small) * marginal_ms / 1000 if marginal_ms is not None else None
            ),
            "finishedRecords": {
                "finished": s.finished,
                "pending": s.finished_pending,
                "insertSeconds": round(insert_seconds, 2),
                "baselineRuns": base,
                "withFinishedRuns": loaded,
                "baselineSeconds": base_s,
                "withFinishedSeconds": loaded_s,
                "ratio": _ratio(loaded_s, base_s),
            },
        }


def _runs_summary(n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in runs)
    return {
        "pending": n,
        "runs": runs,
        "seconds": seconds,
        "jobsPerSecond": n / seconds,
        "msPerJob": seconds * 1000 / n,
    }


def _measured_dict(m: MeasuredUsage) -> dict[str, Any]:
    return {"per_job": asdict(m.per_job), "fixed_monthly": asdict(m.fixed_monthly)}


def _workload_dict(w: Workload) -> dict[str, Any]:
    data = asdict(w)
    return {k: (str(v) if not isinstance(v, int | float | dict | bool) else v) for k, v in data.items()}


# =========================================================================== output


def format_report(result: Mapping[str, Any]) -> str:
    """The terminal summary of a bench result (as written to JSON)."""
    out: list[str] = []
    s = result["settings"]
    volume = s["jobs_per_month"]
    out.append(
        f"Cost per 1,000 jobs, measured on the local cloud ({s['jobs']} jobs per design per setting; "
        f"{result['prices']['region']} list prices {result['prices']['as_of']}, no free tier)"
    )
    header = (
        "polls/job",
        "design",
        "transitions",
        "Lambda req",
        "GB-s",
        "WRU",
        "RRU",
        "$/1k marginal",
        f"$/1k @{volume:,}/mo",
    )
    rows: list[tuple[str, ...]] = []
    for phase in result["cost"]["phases"]:
        for design in ("callback", "loop"):
            per_job = phase[design]["measured"]["per_job"]
            c = phase["cost"]
            rows.append(
                (
                    str(phase["pollsPerJob"]) if design == "callback" else "",
                    design,
                    _num(per_job["transitions"]),
                    _num(per_job["lambda_requests"]),
                    f"{per_job['lambda_gb_s']:.4f}",
                    _num(per_job["ddb_wru"]),
                    _num(per_job["ddb_rru"]),
                    f"{c[f'{design}_marginal']:.4f}",
                    f"{c[f'{design}_at_volume']:.4f}",
                )
            )
        c = phase["cost"]
        rows.append(
            (
                "",
                "ratio cb/loop",
                "",
                "",
                "",
                "",
                "",
                _fmt_ratio(c["ratio_marginal"]),
                _fmt_ratio(c["ratio_at_volume"]),
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(cells)).rstrip()

    out += [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]
    fixed = result["cost"]["fixedMonthly"]
    out.append(
        f"Per job = what the jobs add (marginal). The static schedule's fixed part, measured: "
        f"{_num(fixed['runsPerMonth'])} poller runs/month ({fixed['runsPerMinute']:.2f} per schedule minute), "
        f"${fixed['usd']:.2f}/month, spread over {volume:,} jobs in the @volume column."
    )
    aws = ", ".join(
        f"{p['pollsPerJob']}: {_fmt_ratio(p['costWithAwsSizedToken']['ratio_marginal'])}"
        for p in result["cost"]["phases"]
    )
    token = result["cost"]["phases"][0]["callback"]["taskTokenTable"]
    out.append(
        f"Local task tokens are {token['tokenChars']} characters (token record {token['record_bytes']} bytes); "
        f"with {AWS_MAX_TOKEN_CHARS:,}-character tokens as on AWS the marginal ratio per polls/job would be {aws}."
    )
    share = max(max(p["gbSecondsSharePct"].values()) for p in result["cost"]["phases"])
    out.append(
        f"GB-s are billed durations on this machine (slower than Lambda); they are at most {share:.0f}% "
        "of a design's marginal cost above."
    )
    out.append("")
    out.append("Formula (cost.design_usage, inputs set to the measured memory, durations, item size) vs measurement:")
    any_disagreement = False
    for phase in result["cost"]["phases"]:
        for d in phase["disagreements"]:
            any_disagreement = True
            pct = "formula 0" if d["pct"] is None else f"{d['pct']:+.1f}%"
            out.append(
                f"  {phase['pollsPerJob']:>3} polls/job  {d['design']:8} {d['metric']:21} {d['part']:13} "
                f"formula {_num(d['formula']):>9}  measured {_num(d['measured']):>9}  ({pct})"
            )
    if not any_disagreement:
        out.append(f"  they agree within {s['tolerance_pct']:g}% on every metric")
    for phase in result["cost"]["phases"]:
        t = phase["callback"]["taskTokenTable"]
        jobs = phase["jobs"]
        out.append(
            f"  {phase['pollsPerJob']:>3} polls/job  callback task-token writes per job: "
            f"{t['puts'] / jobs:g} put + {t['updates'] / jobs:g} updates (a claim per poll, a release per "
            f"heartbeat, the final status) at {write_units(t['record_bytes'])} WRU, "
            f"+ {(t['puts'] + 2 * t['finals']) / jobs:g} KEYS_ONLY index writes"
        )
    out.append("")
    t = result["throughput"]
    out.append(
        f"Poller throughput (one synchronous run, schedule disabled, poller concurrency {t['pollerConcurrency']}):"
    )
    out.append(f"  {'pending':>8}  {'seconds':>8}  {'jobs/s':>8}  {'ms/job':>7}")
    for size in t["sizes"].values():
        out.append(
            f"  {size['pending']:>8,}  {size['seconds']:>8.2f}  {size['jobsPerSecond']:>8.1f}  {size['msPerJob']:>7.2f}"
        )
    small, large = t["timePerJobRatioSizes"]
    out.append(f"  time per job at {large:,} vs {small:,} pending: {_fmt_ratio(t['timePerJobRatio'])} (1.00x = flat)")
    if t.get("marginalMsPerJob") is not None:
        out.append(
            f"  a run = {t['runOverheadSeconds']:.2f} s + {t['marginalMsPerJob']:.1f} ms per pending job "
            f"(fitted through {small:,} and {large:,})"
        )
    f = t["finishedRecords"]
    loaded = f["withFinishedRuns"][-1]
    out.append(
        f"Finished records: {f['pending']} pending with 0 vs {f['finished']:,} finished records in the table: "
        f"{f['baselineSeconds']:.2f} s vs {f['withFinishedSeconds']:.2f} s = {_fmt_ratio(f['ratio'])} "
        f"(the index query examined {loaded['queryScanned']} items, table scans {loaded['scans']})"
    )
    out.append("")
    out.append(f"Bench took {result['seconds']:.0f} s; every figure in {result['file']}")
    return "\n".join(out)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def write_result(result: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"bench-{stamp}.json"
    result["file"] = str(path)
    text = json.dumps(result, indent=2, default=_json_default) + "\n"
    path.write_text(text)
    (out_dir / "latest.json").write_text(text)
    return path


def _strip_private(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_private(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_strip_private(v) for v in value]
    return value


# =========================================================================== command


def run_bench(
    settings: BenchSettings,
    *,
    port: int | None = None,
    state_dir: str | None = None,
    deploy: bool = True,
    keep_running: bool = False,
    out_dir: Path = RESULTS_DIR,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    import localcloud
    from callbackctl.ops import cleanup
    from callbackctl.targets import resolve_target

    started, started_at = time.monotonic(), datetime.now(UTC).isoformat(timespec="seconds")
    _log(started, "starting the local cloud")
    try:
        instance = localcloud.start(
            port=port, state_dir=state_dir, clock_speed=settings.clock_speed, echo=lambda m: _log(started, m)
        )
    except localcloud.LocalCloudError as exc:
        raise UsageError(str(exc)) from None
    started_here = not instance.already_running
    target = resolve_target("localcloud", endpoint=instance.endpoint)
    try:
        if deploy:
            _log(started, f"deploying {STACK_NAME} and {BASELINE_STACK_NAME}")
            _deploy(target, settings)
        dep = _deployment(target, instance.endpoint, settings.clock_speed)
        bench = Bench(dep, settings, started)
        bench.set_schedule("ENABLED")

        bench.log(f"warm-up: {settings.jobs} jobs x 2 designs, not measured")
        bench.warm_up()
        bench.log(f"idle: the schedule fires with nothing pending for {settings.idle_seconds:g} s")
        fired_at_start, clock_at_start = bench.schedule_firings(), time.monotonic()
        idle = bench.idle()
        phases = []
        for polls in settings.polls:
            bench.log(f"cost: {settings.jobs} jobs x 2 designs at {polls} polls per job")
            phase = bench.cost_phase(polls, idle["_idle"])
            bench.log(f"cost: {polls} polls/job done in {phase['seconds']:.0f} s")
            phases.append(phase)
        # The static schedule's rate, observed over the idle and cost phases, prices its fixed part.
        schedule_minutes = (time.monotonic() - clock_at_start) * settings.clock_speed / 60
        runs_per_minute = (bench.schedule_firings() - fired_at_start) / schedule_minutes
        fixed = idle["_idle"].monthly(runs_per_minute * cost.MINUTES_PER_MONTH)
        for phase in phases:
            price_phase(phase, fixed, settings)
            bench.log(
                f"cost: {phase['pollsPerJob']} polls/job: callback/loop cost per job "
                f"{_fmt_ratio(phase['cost']['ratio_marginal'])}"
            )
        throughput = bench.throughput()
        if not started_here:
            bench.log("cleaning up the tables (the local cloud keeps running)")
            cleanup(target)
    finally:
        if started_here and not keep_running:
            _log(started, "stopping the local cloud")
            localcloud.stop(state_dir=state_dir)
    prices = cost.default_prices()
    result = {
        "version": 1,
        "startedAt": started_at,
        "seconds": round(time.monotonic() - started, 1),
        "settings": asdict(settings),
        "rules": RULES,
        "prices": {"region": prices.region, "as_of": prices.as_of},
        "deployment": {f.name: getattr(dep, f.name) for f in fields(dep) if f.name != "target"},
        "idle": idle,
        "cost": {
            "fixedMonthly": {
                "observedScheduleMinutes": schedule_minutes,
                "runsPerMinute": runs_per_minute,
                "runsPerMonth": runs_per_minute * cost.MINUTES_PER_MONTH,
                "idleRun": idle["idleRun"],
                "usage": asdict(fixed),
                "usd": cost.price_usage(fixed).total_usd,
            },
            "phases": phases,
        },
        "throughput": throughput,
    }
    result = _strip_private(result)
    write_result(result, out_dir)
    echo(format_report(result))
    return result


def _polls_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers >= 1, got {text!r}")
    return values


def _cmd_bench(args: argparse.Namespace) -> int:
    base = QUICK if args.quick else BenchSettings()
    changes = {
        k: v
        for k, v in {
            "jobs": args.jobs,
            "polls": args.polls,
            "pending": args.pending,
            "finished": args.finished,
            "repeats": args.repeats,
            "jobs_per_month": args.jobs_per_month,
            "clock_speed": args.clock_speed,
            "poller_concurrency": args.poller_concurrency,
        }.items()
        if v is not None
    }
    try:
        settings = replace(base, **changes)
    except ValueError as exc:
        args.bench_parser.error(str(exc))
    run_bench(
        settings,
        port=args.port,
        state_dir=args.state_dir,
        deploy=not args.skip_deploy,
        keep_running=args.keep_running,
        out_dir=Path(args.output_dir),
    )
    return 0


def register(subparsers: Any) -> None:
    """Add the ``bench`` command to an argparse subparsers object."""
    d = BenchSettings()
    p = subparsers.add_parser(
        "bench",
        help="measure cost per job (callback vs polling loop) and poller throughput on the local cloud",
        description=(
            "Deploy the callback stack and a Wait -> CheckStatus -> Choice polling-loop baseline on the local "
            "cloud, run the same jobs through both, count transitions, Lambda invocations, scheduler "
            "invocations and DynamoDB requests, price the counts with the cost model, and time the poller "
            "over many pending jobs. Prints a table and writes bench-results/bench-<timestamp>.json "
            "(and latest.json)."
        ),
    )
    p.add_argument("--quick", action="store_true", help="a smaller run (3 jobs, polls 1,3, 100/300 pending)")
    p.add_argument("--jobs", type=int, metavar="N", help=f"jobs per design per setting (default {d.jobs})")
    p.add_argument(
        "--polls",
        type=_polls_list,
        metavar="LIST",
        help=f"polls-per-job settings, comma-separated (default {','.join(map(str, d.polls))})",
    )
    p.add_argument(
        "--pending",
        type=_polls_list,
        metavar="LIST",
        help=f"pending-job counts to time the poller over (default {','.join(map(str, d.pending))})",
    )
    p.add_argument(
        "--finished", type=int, metavar="N", help=f"finished records for the scan check (default {d.finished:,})"
    )
    p.add_argument("--repeats", type=int, metavar="N", help=f"timed runs per size, median (default {d.repeats})")
    p.add_argument(
        "--jobs-per-month",
        type=int,
        metavar="N",
        help=f"volume for the fixed-cost column (default {d.jobs_per_month:,})",
    )
    p.add_argument(
        "--clock-speed", type=float, metavar="X", help=f"scheduler clock speed-up (default {d.clock_speed:g})"
    )
    p.add_argument(
        "--poller-concurrency", type=int, metavar="N", help="deploy with this POLLER_CONCURRENCY (default: the stage's)"
    )
    p.add_argument("--port", type=int, help="local cloud port (default 4566 or LOCALCLOUD_PORT)")
    p.add_argument("--state-dir", help="local cloud state dir (default .localcloud/state or LOCALCLOUD_STATE_DIR)")
    p.add_argument("--skip-deploy", action="store_true", help="use the stacks already deployed")
    p.add_argument("--keep-running", action="store_true", help="leave a local cloud started here running")
    p.add_argument("--output-dir", default=str(RESULTS_DIR), help="where to write the JSON (default bench-results/)")
    p.set_defaults(func=_cmd_bench, bench_parser=p)
