"""Monthly cost model: task-token callback versus a Wait -> Check -> Choice polling loop.

Two designs run the same external job (create it once, check its status ``polls_per_job`` times):

* **callback** (this project): the Standard state machine waits on ``.waitForTaskToken``
  (``callback_transitions`` transitions per job: start -> CreateJob -> Succeed).  ``create_job``
  stores the token in DynamoDB and calls the API (``CREATE_JOB``); a poller Lambda run by
  EventBridge Scheduler queries the ``ByStatus`` index, claims each pending job (one UpdateItem),
  calls ``CHECK_STATUS`` (one simulated_api invoke), then either sends a heartbeat and releases the
  claim (one UpdateItem) or, on the last poll, resumes the execution and writes the end status.
* **loop**: the state machine calls the API itself (``CREATE_JOB`` once, ``CHECK_STATUS`` each poll)
  and spends ``loop_transitions_per_poll`` (Wait, CheckStatus, Choice) per poll plus
  ``loop_fixed_transitions`` (start, CreateJob, Succeed).  No scheduler, no DynamoDB.

Pricing rules (list prices and sources in ``prices.json``):

* One function, :func:`price_usage`, turns a month's usage into dollars.  The formula path
  (:func:`design_usage`) and the measured path (:class:`MeasuredUsage` from real executions) both
  end there.
* Free tiers are monthly and account-wide.  They are subtracted once from the month's total usage
  of *one design*: each design is priced as if it were the account's only workload (the two
  designs are alternatives, not both deployed).  If other workloads already use the free tier,
  price with ``free_tier=False``.
* DynamoDB on-demand (task-token table; the poller uses the low-level calls of ``poller/store.py``):
  a write costs ceil(item KB) WRUs (a task token is up to 2,048 characters, so the token record is
  ~2-3 KB: the token plus ~300 bytes); an UpdateItem is billed on the larger of the old and new
  item.  Per job with ``p`` polls the table takes 1 PutItem (create_job), p claim UpdateItems (they
  return ALL_NEW, so the poller never GetItems the record), p - 1 release UpdateItems (after each
  heartbeat) and 1 finish UpdateItem: ``2p + 1`` writes.  The ``ByStatus`` GSI is KEYS_ONLY
  (``status``, ``createdAt``; it never holds the token): it is written once when the record is
  created and twice (delete + insert) when ``status`` changes at the finish, 3 index writes of
  ceil(index entry KB) = 1 WRU per job; claims and releases do not touch it.  The poller's pending
  Query runs once per schedule firing and is eventually consistent: 0.5 RRU per 4 KB of keys a run
  returns, at least 0.5 RRU even when empty.  The minimum is a fixed monthly cost; what a run's
  keys cost above it is the jobs' share.
* A month is 30 days: a static ``rate(1 minute)`` schedule is 43,200 invocations whatever the volume.

Not modelled: Lambda duration price tiers above 6 billion GB-s, retries, CloudWatch Logs, X-Ray,
data transfer, DynamoDB storage/streams/TTL (TTL deletes are free), the Jobs table of the simulated
API (it stands for the external system and is the same in both designs).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("prices.json")
MINUTES_PER_MONTH = 43_200  # 30 days x 24 h x 60 min
MAX_POLLS_SEARCH = 10_000
SELECTED_POLLS = (1, 2, 5, 10, 20, 50, 100)
LAMBDA_MAX_MS = 900_000  # a Lambda invocation lasts at most 15 minutes
_EPS_USD = 1e-12


class Architecture(StrEnum):
    X86_64 = "x86_64"
    ARM64 = "arm64"


class SchedulerMode(StrEnum):
    STATIC = "static"  # one schedule rate(N minutes); each run checks every pending job
    PER_JOB = "per-job"  # one schedule per job; one invocation per poll per job


class Design(StrEnum):
    CALLBACK = "callback"
    LOOP = "loop"


# --------------------------------------------------------------------------- usage and prices


@dataclass(frozen=True)
class Usage:
    """Billable quantities (per month, or per job when inside :class:`MeasuredUsage`)."""

    transitions: float = 0.0
    lambda_requests: float = 0.0
    lambda_gb_s: float = 0.0
    scheduler_invocations: float = 0.0
    ddb_wru: float = 0.0
    ddb_rru: float = 0.0

    def __post_init__(self) -> None:
        for name in USAGE_FIELDS:
            value = getattr(self, name)
            if type(value) is not float and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"usage {name} must be a number, got {value!r}")
            if not 0 <= value < math.inf:
                raise ValueError(f"usage {name} must be a finite number >= 0, got {value!r}")

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(getattr(self, name) + getattr(other, name) for name in USAGE_FIELDS))

    def scaled(self, factor: float) -> Usage:
        return Usage(*(getattr(self, name) * factor for name in USAGE_FIELDS))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "usage") -> Usage:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        return cls(**{k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in data.items()})


USAGE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Usage))


@dataclass(frozen=True)
class MeasuredUsage:
    """One design's counts: per job, plus usage per month that does not scale with jobs.

    The benchmark fills ``per_job`` from real executions (transitions from the execution history,
    Lambda requests and GB-s from REPORT lines: memory MB / 1024 * billed ms / 1000, scheduler
    invocations, consumed capacity from DynamoDB) and ``fixed_monthly`` with what a static schedule
    costs whatever the volume (its invocations, the poller's empty runs).
    """

    per_job: Usage
    fixed_monthly: Usage = field(default_factory=Usage)

    def monthly(self, jobs_per_month: int) -> Usage:
        _check_int("jobs_per_month", jobs_per_month, 0)
        return self.fixed_monthly + self.per_job.scaled(jobs_per_month)

    @classmethod
    def from_totals(cls, total: Usage, jobs: int, fixed_monthly: Usage | None = None) -> MeasuredUsage:
        """Per-job counts from the totals of ``jobs`` measured executions."""
        _check_int("jobs", jobs, 1)
        return cls(per_job=total.scaled(1 / jobs), fixed_monthly=fixed_monthly or Usage())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "measured") -> MeasuredUsage:
        unknown = sorted(set(data) - {"per_job", "fixed_monthly"})
        if unknown or "per_job" not in data:
            raise ValueError(f"{where}: expected keys per_job (required) and fixed_monthly, got {sorted(data)}")
        return cls(
            per_job=Usage.from_dict(data["per_job"], f"{where}.per_job"),
            fixed_monthly=Usage.from_dict(data.get("fixed_monthly", {}), f"{where}.fixed_monthly"),
        )


def lambda_gb_s(memory_mb: float, duration_ms: float) -> float:
    """GB-seconds of one invocation (Lambda bills memory in MB / 1024 times billed seconds)."""
    return memory_mb / 1024 * duration_ms / 1000


@dataclass(frozen=True)
class Prices:
    """Unit prices in USD per single unit, and monthly free allowances, with their sources."""

    region: str
    as_of: str
    transition: float
    lambda_request: float
    lambda_gb_s_x86_64: float
    lambda_gb_s_arm64: float
    scheduler_invocation: float
    ddb_wru: float
    ddb_rru: float
    free_transitions: float
    free_lambda_requests: float
    free_lambda_gb_s: float
    free_scheduler_invocations: float
    free_ddb_wru: float
    free_ddb_rru: float
    sources: tuple[tuple[str, str], ...]

    def unit_price(self, usage_field: str, architecture: Architecture) -> float:
        if usage_field == "lambda_gb_s":
            return self.lambda_gb_s_arm64 if architecture == Architecture.ARM64 else self.lambda_gb_s_x86_64
        return float(getattr(self, _PRICE_ATTR[usage_field]))

    def free_allowance(self, usage_field: str) -> float:
        return float(getattr(self, "free_" + usage_field))


_PRICE_ATTR = {
    "transitions": "transition",
    "lambda_requests": "lambda_request",
    "scheduler_invocations": "scheduler_invocation",
    "ddb_wru": "ddb_wru",
    "ddb_rru": "ddb_rru",
}

# usage field -> (service, item) in table order
LINE_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("transitions", "Step Functions", "state transitions"),
    ("lambda_requests", "Lambda", "requests"),
    ("lambda_gb_s", "Lambda", "GB-seconds"),
    ("scheduler_invocations", "EventBridge Scheduler", "invocations"),
    ("ddb_wru", "DynamoDB", "write request units"),
    ("ddb_rru", "DynamoDB", "read request units"),
)


def load_prices(path: str | Path | None = None) -> Prices:
    """Read ``prices.json`` (next to this module unless ``path`` is given)."""
    source = Path(path) if path is not None else PRICES_FILE
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        services = data["services"]

        def unit(service: str, name: str) -> float:
            entry = services[service]["prices"][name]
            per = float(entry["per"])
            if per <= 0 or float(entry["usd"]) < 0:
                raise ValueError(f"{service}.{name}: usd must be >= 0 and per > 0")
            return float(entry["usd"]) / per

        def free(service: str, name: str) -> float:
            return float(services[service].get("free_tier", {}).get(name, 0))

        return Prices(
            region=str(data["region"]),
            as_of=str(data["as_of"]),
            transition=unit("step_functions", "standard_state_transition"),
            lambda_request=unit("lambda", "request"),
            lambda_gb_s_x86_64=unit("lambda", "gb_second_x86_64"),
            lambda_gb_s_arm64=unit("lambda", "gb_second_arm64"),
            scheduler_invocation=unit("scheduler", "invocation"),
            ddb_wru=unit("dynamodb", "write_request_unit"),
            ddb_rru=unit("dynamodb", "read_request_unit"),
            free_transitions=free("step_functions", "standard_state_transition"),
            free_lambda_requests=free("lambda", "request"),
            free_lambda_gb_s=free("lambda", "gb_second"),
            free_scheduler_invocations=free("scheduler", "invocation"),
            free_ddb_wru=free("dynamodb", "write_request_unit"),
            free_ddb_rru=free("dynamodb", "read_request_unit"),
            sources=tuple((name, str(svc["source"])) for name, svc in services.items()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"invalid price file {source}: {exc}") from exc


_DEFAULT_PRICES: Prices | None = None


def default_prices() -> Prices:
    global _DEFAULT_PRICES
    if _DEFAULT_PRICES is None:
        _DEFAULT_PRICES = load_prices()
    return _DEFAULT_PRICES


@dataclass(frozen=True)
class CostLine:
    service: str
    item: str
    usage: float  # the month's usage of this design
    free: float  # part covered by the free tier
    billable: float
    unit_price_usd: float
    cost_usd: float


@dataclass(frozen=True)
class DesignCost:
    design: str
    usage: Usage
    lines: tuple[CostLine, ...]
    total_usd: float
    free_tier: bool

    def by_service(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.service] = out.get(line.service, 0.0) + line.cost_usd
        return out


def price_usage(
    usage: Usage,
    *,
    prices: Prices | None = None,
    architecture: Architecture = Architecture.X86_64,
    free_tier: bool = False,
    design: str = "",
) -> DesignCost:
    """The one place where usage becomes dollars.  ``usage`` is one design's whole month."""
    prices = prices or default_prices()
    lines = []
    for name, service, item in LINE_ITEMS:
        amount = float(getattr(usage, name))
        free = min(amount, prices.free_allowance(name)) if free_tier else 0.0
        billable = amount - free
        unit_price = prices.unit_price(name, Architecture(architecture))
        lines.append(CostLine(service, item, amount, free, billable, unit_price, billable * unit_price))
    return DesignCost(design, usage, tuple(lines), sum(line.cost_usd for line in lines), free_tier)


def price_measured(
    measured: MeasuredUsage,
    jobs_per_month: int,
    *,
    prices: Prices | None = None,
    architecture: Architecture = Architecture.X86_64,
    free_tier: bool = False,
    design: str = "",
) -> DesignCost:
    return price_usage(
        measured.monthly(jobs_per_month), prices=prices, architecture=architecture, free_tier=free_tier, design=design
    )


# --------------------------------------------------------------------------- the workload


def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{name} must be {bound}, got {value}")


def _check_number(name: str, value: object, minimum: float, *, strict: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum:g}, got {value}")


@dataclass(frozen=True)
class LambdaProfile:
    """Configured memory and average billed duration of one kind of invocation."""

    memory_mb: int = 128
    duration_ms: float = 20.0

    def __post_init__(self) -> None:
        _check_int("memory_mb", self.memory_mb, 128, 10_240)
        _check_number("duration_ms", self.duration_ms, 0.0)

    @property
    def gb_s(self) -> float:
        return lambda_gb_s(self.memory_mb, self.duration_ms)


@dataclass(frozen=True)
class Workload:
    """What one month looks like.  Defaults are rough guesses for this project's handlers."""

    jobs_per_month: int = 100_000
    polls_per_job: int = 10
    create_job: LambdaProfile = LambdaProfile(128, 60.0)  # validates, stores the token, calls CREATE_JOB
    api_create: LambdaProfile = LambdaProfile(128, 20.0)  # simulated_api CREATE_JOB
    api_check: LambdaProfile = LambdaProfile(128, 20.0)  # simulated_api CHECK_STATUS
    poller: LambdaProfile = LambdaProfile(128, 100.0)  # duration = base of one run (query, setup)
    poller_per_job_ms: float = 40.0  # billed time a run adds per job it checks (after concurrency)
    architecture: Architecture = Architecture.X86_64
    free_tier: bool = False
    scheduler: SchedulerMode = SchedulerMode.STATIC
    schedule_rate_minutes: int = 1
    token_item_kb: float = 2.5  # largest token record: token (<= 2,048 chars) + ~300 bytes (ARN, lease, ...)
    index_entry_kb: float = 0.1  # one KEYS_ONLY ByStatus entry: jobId, status, createdAt (~90 bytes)
    gsi_writes: bool = True  # count the KEYS_ONLY index writes: 1 on create, 2 when status changes
    callback_transitions: int = 3  # start, CreateJob (.waitForTaskToken), Succeed
    loop_fixed_transitions: int = 3  # start, CreateJob, Succeed
    loop_transitions_per_poll: int = 3  # Wait, CheckStatus, Choice
    minutes_per_month: int = MINUTES_PER_MONTH

    def __post_init__(self) -> None:
        _check_int("jobs_per_month", self.jobs_per_month, 0)
        _check_int("polls_per_job", self.polls_per_job, 0)
        for name in ("create_job", "api_create", "api_check", "poller"):
            if not isinstance(getattr(self, name), LambdaProfile):
                raise TypeError(f"{name} must be a LambdaProfile")
        _check_number("poller_per_job_ms", self.poller_per_job_ms, 0.0)
        object.__setattr__(self, "architecture", Architecture(self.architecture))
        object.__setattr__(self, "scheduler", SchedulerMode(self.scheduler))
        _check_int("schedule_rate_minutes", self.schedule_rate_minutes, 1)
        _check_number("token_item_kb", self.token_item_kb, 0.0, strict=True)
        _check_number("index_entry_kb", self.index_entry_kb, 0.0, strict=True)
        for name in ("token_item_kb", "index_entry_kb"):
            if getattr(self, name) > 400:
                raise ValueError(f"{name} must be <= 400 (DynamoDB item limit), got {getattr(self, name)}")
        for name in ("callback_transitions", "loop_fixed_transitions", "loop_transitions_per_poll"):
            _check_int(name, getattr(self, name), 0)
        _check_int("minutes_per_month", self.minutes_per_month, 1)

    @classmethod
    def from_duration(cls, job_duration_s: float, poll_interval_s: float, **kwargs: Any) -> Workload:
        return cls(polls_per_job=polls_for_duration(job_duration_s, poll_interval_s), **kwargs)

    def with_polls(self, polls_per_job: int) -> Workload:
        return replace(self, polls_per_job=polls_per_job)

    @property
    def scheduled_runs(self) -> int:
        """Poller runs a month from the static schedule."""
        return math.ceil(self.minutes_per_month / self.schedule_rate_minutes)

    @property
    def wru_per_token_write(self) -> int:
        return math.ceil(self.token_item_kb)

    @property
    def wru_per_index_write(self) -> int:
        return math.ceil(self.index_entry_kb)


def polls_for_duration(job_duration_s: float, poll_interval_s: float) -> int:
    """Status checks until a job of this duration is seen finished: ceil(duration / interval)."""
    _check_number("job_duration", job_duration_s, 0.0, strict=True)
    _check_number("poll_interval", poll_interval_s, 0.0, strict=True)
    return max(1, math.ceil(round(job_duration_s / poll_interval_s, 9)))


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str) -> float:
    """'90s', '30m', '2h', '1h30m', '1.5d' or a bare number of seconds -> seconds (> 0)."""
    raw = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        seconds = float(raw)
    else:
        compact = raw.replace(" ", "")
        if not compact or not re.fullmatch(rf"(?:{_DURATION_PART.pattern})+", compact, re.IGNORECASE):
            raise ValueError(f"cannot parse duration {text!r}: use e.g. 90s, 30m, 2h, 1h30m or seconds")
        seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in _DURATION_PART.findall(compact))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be greater than zero")
    return seconds


# --------------------------------------------------------------------------- formula -> usage


def design_usage(workload: Workload, design: Design | str) -> MeasuredUsage:
    """Counts a design spends per job and per month (fixed), from the workload's parameters."""
    w = workload
    p = w.polls_per_job
    if Design(design) == Design.LOOP:
        per_job = Usage(
            transitions=w.loop_fixed_transitions + w.loop_transitions_per_poll * p,
            lambda_requests=1 + p,  # CREATE_JOB task + one CheckStatus task per poll
            lambda_gb_s=w.api_create.gb_s + p * w.api_check.gb_s,
        )
        return MeasuredUsage(per_job=per_job)

    # table: put + a claim per poll + a release after each heartbeat (p - 1) + the finish = 2p + 1;
    # KEYS_ONLY index: insert on the put, delete + insert when the finish changes status = 3.
    # With no poll (the break-even search's p = 0) only the put happens.
    table_writes, index_writes = (2 * p + 1, 3) if p else (1, 1)
    ddb_wru = float(w.wru_per_token_write * table_writes)
    if w.gsi_writes:
        ddb_wru += w.wru_per_index_write * index_writes
    poller_job_gb_s = lambda_gb_s(w.poller.memory_mb, w.poller_per_job_ms)
    lambda_requests = 2 + p  # create_job, CREATE_JOB, one CHECK_STATUS per poll
    gb_s = w.create_job.gb_s + w.api_create.gb_s + p * (w.api_check.gb_s + poller_job_gb_s)
    if w.scheduler == SchedulerMode.PER_JOB:
        per_job = Usage(
            transitions=w.callback_transitions,
            lambda_requests=lambda_requests + p,  # + one poller run per poll
            lambda_gb_s=gb_s + p * w.poller.gb_s,
            scheduler_invocations=p,
            ddb_wru=ddb_wru,
            # a run for one job GetItems its record (ConsistentRead): 1 RRU per 4 KB
            ddb_rru=float(p * math.ceil(w.token_item_kb / 4)),
        )
        return MeasuredUsage(per_job=per_job)
    runs = w.scheduled_runs
    per_job = Usage(
        transitions=w.callback_transitions,
        lambda_requests=lambda_requests,
        lambda_gb_s=gb_s,
        ddb_wru=ddb_wru,
        ddb_rru=_query_rru_per_job(w),
    )
    fixed = Usage(
        lambda_requests=runs,
        lambda_gb_s=runs * w.poller.gb_s,
        scheduler_invocations=runs,
        ddb_rru=runs * 0.5,  # a query costs at least 0.5 RRU, even when empty
    )
    return MeasuredUsage(per_job=per_job, fixed_monthly=fixed)


def _query_rru_per_job(w: Workload) -> float:
    """The jobs' share of the static schedule's index queries: what the runs' keys cost above the
    0.5 RRU minimum each run pays anyway (fixed).  A run returns the keys of every pending job, on
    average jobs x polls / runs of them; it reads 0.5 RRU per started 4 KB of keys."""
    if w.jobs_per_month == 0 or w.polls_per_job == 0:
        return 0.0
    keys_per_run = w.jobs_per_month * w.polls_per_job / w.scheduled_runs
    rru_per_run = 0.5 * max(1, math.ceil(round(keys_per_run * w.index_entry_kb / 4, 9)))
    return (rru_per_run - 0.5) * w.scheduled_runs / w.jobs_per_month


def design_cost(workload: Workload, design: Design | str, prices: Prices | None = None) -> DesignCost:
    return price_measured(
        design_usage(workload, design),
        workload.jobs_per_month,
        prices=prices,
        architecture=workload.architecture,
        free_tier=workload.free_tier,
        design=str(Design(design)),
    )


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class BreakEven:
    polls_per_job: int | None  # callback cheaper at this and every higher polls per job in range
    max_polls: int
    message: str
    callback_usd: float | None = None  # both designs at polls_per_job
    loop_usd: float | None = None
    callback_usd_before: float | None = None  # both designs at polls_per_job - 1
    loop_usd_before: float | None = None


@dataclass(frozen=True)
class Estimate:
    callback: DesignCost
    loop: DesignCost
    saving_usd: float
    saving_pct: float | None  # (loop - callback) / loop * 100; None when the loop costs nothing
    break_even: BreakEven | None
    jobs_per_month: int
    workload: Workload | None = None  # None for measured counts
    prices_as_of: str = ""
    region: str = ""
    sources: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = dict(self.sources)
        for key in ("callback", "loop"):
            data[key]["by_service"] = getattr(self, key).by_service()
        return data


ASSUMPTIONS = (
    "List prices from prices.json; a month is 30 days (rate(1 minute) = 43,200 runs).",
    (
        "Free tiers, when applied, are subtracted once from each design's monthly usage: each design is "
        "priced as if it were the account's only workload."
    ),
    (
        "Both designs call the simulated API Lambda once to create a job and once per poll; the loop "
        "invokes it from the state machine, the callback from create_job and the poller."
    ),
    (
        "DynamoDB on-demand: ceil(item KB) WRUs per write, 2p + 1 token-record writes per job (put, claim per "
        "poll, release per heartbeat, finish) plus 3 writes to the KEYS_ONLY ByStatus index (insert, then "
        "delete + insert on the status change); index queries 0.5 RRU per 4 KB of keys, at least 0.5 per run; "
        "no free tier for on-demand requests."
    ),
)


def saving_pct(callback_usd: float, loop_usd: float) -> float | None:
    if loop_usd <= 0:
        return None
    return (loop_usd - callback_usd) / loop_usd * 100


def _totals(workload: Workload, polls: int, prices: Prices) -> tuple[float, float]:
    w = workload.with_polls(polls)
    return design_cost(w, Design.CALLBACK, prices).total_usd, design_cost(w, Design.LOOP, prices).total_usd


def find_break_even(workload: Workload, prices: Prices | None = None, max_polls: int = MAX_POLLS_SEARCH) -> BreakEven:
    """Smallest polls per job N such that the callback is strictly cheaper at every p in N..max_polls."""
    _check_int("max_polls", max_polls, 0)
    prices = prices or default_prices()
    totals = [_totals(workload, p, prices) for p in range(max_polls + 1)]
    found: int | None = None
    for p in range(max_polls, -1, -1):
        callback_usd, loop_usd = totals[p]
        if callback_usd < loop_usd - _EPS_USD:
            found = p
        else:
            break
    if found is None:
        return BreakEven(None, max_polls, f"never within 0..{max_polls:,} polls per job (the loop is not dearer)")
    callback_usd, loop_usd = totals[found]
    if found == 0:
        return BreakEven(
            0, max_polls, f"callback cheaper at every 0..{max_polls:,} polls per job", callback_usd, loop_usd
        )
    before = totals[found - 1]
    return BreakEven(
        found,
        max_polls,
        f"callback cheaper from {_plural(found, 'poll')} per job",
        callback_usd,
        loop_usd,
        before[0],
        before[1],
    )


def _poller_warnings(workload: Workload) -> tuple[str, ...]:
    w = workload
    if w.scheduler != SchedulerMode.STATIC or w.jobs_per_month == 0:
        return ()
    jobs_per_run = w.jobs_per_month * w.polls_per_job / w.scheduled_runs
    run_ms = w.poller.duration_ms + jobs_per_run * w.poller_per_job_ms
    if run_ms > LAMBDA_MAX_MS:
        return (
            (
                f"an average poller run would last {run_ms / 1000:,.0f} s ({jobs_per_run:,.0f} jobs per run), "
                "over Lambda's 15-minute limit: raise POLLER_CONCURRENCY or run the schedule more often"
            ),
        )
    return ()


def estimate(
    workload: Workload,
    prices: Prices | None = None,
    *,
    with_break_even: bool = True,
    max_polls: int = MAX_POLLS_SEARCH,
) -> Estimate:
    prices = prices or default_prices()
    callback = design_cost(workload, Design.CALLBACK, prices)
    loop = design_cost(workload, Design.LOOP, prices)
    return Estimate(
        callback=callback,
        loop=loop,
        saving_usd=loop.total_usd - callback.total_usd,
        saving_pct=saving_pct(callback.total_usd, loop.total_usd),
        break_even=find_break_even(workload, prices, max_polls) if with_break_even else None,
        jobs_per_month=workload.jobs_per_month,
        workload=workload,
        prices_as_of=prices.as_of,
        region=prices.region,
        sources=prices.sources,
        warnings=_poller_warnings(workload),
        assumptions=ASSUMPTIONS,
    )


def estimate_measured(
    callback: MeasuredUsage,
    loop: MeasuredUsage,
    jobs_per_month: int,
    *,
    prices: Prices | None = None,
    architecture: Architecture = Architecture.X86_64,
    free_tier: bool = False,
) -> Estimate:
    """Price counts measured from real executions with the same code as the formula."""
    prices = prices or default_prices()
    kw: dict[str, Any] = {"prices": prices, "architecture": architecture, "free_tier": free_tier}
    cb = price_measured(callback, jobs_per_month, design=str(Design.CALLBACK), **kw)
    lp = price_measured(loop, jobs_per_month, design=str(Design.LOOP), **kw)
    return Estimate(
        callback=cb,
        loop=lp,
        saving_usd=lp.total_usd - cb.total_usd,
        saving_pct=saving_pct(cb.total_usd, lp.total_usd),
        break_even=None,
        jobs_per_month=jobs_per_month,
        prices_as_of=prices.as_of,
        region=prices.region,
        sources=prices.sources,
        assumptions=ASSUMPTIONS,
    )


@dataclass(frozen=True)
class SweepPoint:
    polls_per_job: int
    callback_usd: float
    loop_usd: float
    saving_pct: float | None


def sweep(workload: Workload, polls: Iterable[int], prices: Prices | None = None) -> list[SweepPoint]:
    prices = prices or default_prices()
    points = []
    for p in polls:
        callback_usd, loop_usd = _totals(workload, p, prices)
        points.append(SweepPoint(p, callback_usd, loop_usd, saving_pct(callback_usd, loop_usd)))
    return points


# --------------------------------------------------------------------------- text output


def _fmt_count(value: float) -> str:
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-6 or value >= 1000 else f"{value:,.2f}"


def _fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def describe(workload: Workload, *, include_polls: bool = True) -> list[str]:
    """A few lines that say which workload was priced."""
    w = workload
    if w.scheduler == SchedulerMode.STATIC:
        sched = (
            f"one schedule rate({_plural(w.schedule_rate_minutes, 'minute')}) = {w.scheduled_runs:,} poller runs/month"
        )
    else:
        sched = "one schedule per job (one poller invocation per poll)"
    named = (("create_job", w.create_job), ("API create", w.api_create), ("API check", w.api_check))
    if len({prof.memory_mb for _, prof in (*named, ("poller run", w.poller))}) == 1:
        fn = f" {w.poller.memory_mb} MB: " + ", ".join(f"{name} {prof.duration_ms:g} ms" for name, prof in named)
        fn += f", poller run {w.poller.duration_ms:g} ms"
    else:
        fn = ": " + ", ".join(
            f"{name} {prof.memory_mb} MB/{prof.duration_ms:g} ms" for name, prof in (*named, ("poller run", w.poller))
        )
    polls = f", {_plural(w.polls_per_job, 'poll')} per job" if include_polls else ""
    free = "free tier applied" if w.free_tier else "no free tier"
    if w.gsi_writes:
        gsi = f", index entry {w.index_entry_kb:g} KB = {w.wru_per_index_write} WRU per index write"
    else:
        gsi = " (index writes left out)"
    return [
        f"{w.jobs_per_month:,} jobs/month{polls}, Lambda {w.architecture}, {free}",
        f"Scheduler: {sched}; token item {w.token_item_kb:g} KB = {w.wru_per_token_write} WRU per write{gsi}",
        f"Lambda{fn} + {w.poller_per_job_ms:g} ms per job checked",
    ]


def format_estimate(est: Estimate) -> str:
    header = ("service", "item", "callback usage", "callback $", "loop usage", "loop $")
    rows = [
        (a.service, a.item, _fmt_count(a.usage), f"{a.cost_usd:,.4f}", _fmt_count(b.usage), f"{b.cost_usd:,.4f}")
        for a, b in zip(est.callback.lines, est.loop.lines, strict=True)
    ]
    total = ("TOTAL / month", "", "", f"{est.callback.total_usd:,.4f}", "", f"{est.loop.total_usd:,.4f}")
    widths = [max(len(r[i]) for r in [header, *rows, total]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(cells)).rstrip()

    rule = "  ".join("-" * n for n in widths)
    out = [f"Monthly cost, {est.region} list prices ({est.prices_as_of})"]
    if est.workload is not None:
        out += describe(est.workload)
    else:
        free = "free tier applied" if est.callback.free_tier else "no free tier"
        out.append(f"Measured counts, {est.jobs_per_month:,} jobs/month, {free}")
    out += ["", line(header), rule, *(line(r) for r in rows), rule, line(total), ""]
    if est.saving_pct is None:
        out.append("Saving with callback: n/a (the loop costs nothing)")
    else:
        verb = "Saving" if est.saving_usd >= 0 else "Extra cost"
        out.append(f"{verb} with callback: {_fmt_pct(abs(est.saving_pct))} (${abs(est.saving_usd):,.4f}/month)")
    if est.break_even is not None:
        out.append(f"Break-even: {est.break_even.message} (searched 0..{est.break_even.max_polls:,})")
    if est.callback.free_tier:
        out.append("Free tiers are subtracted from each design as if it were the account's only workload.")
    out += [f"Warning: {w}" for w in est.warnings]
    return "\n".join(out)


def format_sweep(points: Sequence[SweepPoint]) -> str:
    header = ("polls/job", "callback $", "loop $", "saving")
    rows = [
        (f"{p.polls_per_job:,}", f"{p.callback_usd:,.2f}", f"{p.loop_usd:,.2f}", _fmt_pct(p.saving_pct)) for p in points
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(widths[i]) for i, c in enumerate(r)) for r in [header, *rows])


# --------------------------------------------------------------------------- command line

_MEMORY_TARGETS = {
    "create_job": ("create_job",),
    "simulated_api": ("api_create", "api_check"),
    "poller": ("poller",),
}
_DURATION_TARGETS = ("create_job", "api_create", "api_check", "poller", "poller_per_job")


def _arg_nonneg_int(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _arg_pos_int(text: str) -> int:
    value = _arg_nonneg_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _arg_duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _arg_pos_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _keyed(text: str, keys: Iterable[str], what: str) -> tuple[str | None, str]:
    keys = tuple(keys)
    if "=" not in text:
        return None, text
    key, _, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if key not in keys:
        raise argparse.ArgumentTypeError(f"unknown {what} {key!r}; choose from {', '.join(keys)}")
    return key, value


def _arg_memory(text: str) -> tuple[str | None, int]:
    key, value = _keyed(text, _MEMORY_TARGETS, "function")
    try:
        mb = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MB or FUNCTION=MB, got {text!r}") from None
    if not 128 <= mb <= 10_240:
        raise argparse.ArgumentTypeError(f"Lambda memory must be 128..10240 MB, got {mb}")
    return key, mb


def _arg_duration_ms(text: str) -> tuple[str | None, float]:
    key, value = _keyed(text, _DURATION_TARGETS, "duration")
    try:
        ms = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MS or NAME=MS, got {text!r}") from None
    if not math.isfinite(ms) or ms < 0:
        raise argparse.ArgumentTypeError(f"duration must be >= 0 ms, got {value}")
    return key, ms


def _add_workload_args(p: argparse.ArgumentParser, *, with_polls: bool) -> None:
    d = Workload()
    p.add_argument(
        "--jobs-per-month",
        type=_arg_nonneg_int,
        default=d.jobs_per_month,
        metavar="N",
        help=f"executions started per month (default {d.jobs_per_month:,})",
    )
    if with_polls:
        g = p.add_mutually_exclusive_group()
        g.add_argument(
            "--polls-per-job",
            type=_arg_nonneg_int,
            metavar="N",
            help=f"status checks until a job ends (default {d.polls_per_job})",
        )
        g.add_argument(
            "--job-duration",
            type=_arg_duration,
            metavar="DURATION",
            help="typical job duration, e.g. 90s, 30m, 2h, 1h30m (bare number = seconds); "
            "polls per job = ceil(duration / poll interval)",
        )
        p.add_argument(
            "--poll-interval",
            type=_arg_duration,
            metavar="DURATION",
            help="time between status checks, with --job-duration (default: the schedule rate, 1m)",
        )
    p.add_argument(
        "--memory",
        type=_arg_memory,
        action="append",
        default=[],
        metavar="[FUNCTION=]MB",
        help="Lambda memory: MB for every function, or FUNCTION=MB with FUNCTION in "
        f"{', '.join(_MEMORY_TARGETS)} (repeatable; default 128)",
    )
    p.add_argument(
        "--duration-ms",
        type=_arg_duration_ms,
        action="append",
        default=[],
        metavar="[NAME=]MS",
        help="average billed duration: MS for all, or NAME=MS with NAME in "
        f"{', '.join(_DURATION_TARGETS)} (poller = base of one run, poller_per_job = time a run "
        f"adds per job checked; repeatable; defaults create_job={d.create_job.duration_ms:g}, "
        f"api_create={d.api_create.duration_ms:g}, api_check={d.api_check.duration_ms:g}, "
        f"poller={d.poller.duration_ms:g}, poller_per_job={d.poller_per_job_ms:g})",
    )
    p.add_argument(
        "--arch",
        choices=[a.value for a in Architecture],
        default=d.architecture.value,
        help="Lambda architecture (default x86_64)",
    )
    p.add_argument(
        "--free-tier",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="subtract the monthly free tiers, pricing each design as the account's only "
        "workload (default: --no-free-tier)",
    )
    p.add_argument(
        "--scheduler",
        choices=[s.value for s in SchedulerMode],
        default=d.scheduler.value,
        help="static: one schedule whose runs check every pending job (fixed invocations a month); "
        "per-job: one invocation per poll per job (default static)",
    )
    p.add_argument(
        "--schedule-rate-minutes",
        type=_arg_pos_int,
        metavar="N",
        help="static schedule rate(N minutes): 43,200/N runs a month (default: the poll interval "
        "rounded up to minutes, else 1)",
    )
    p.add_argument(
        "--token-item-kb",
        type=_arg_pos_float,
        default=d.token_item_kb,
        metavar="KB",
        help=f"size of the task-token item; each write costs ceil(KB) WRUs (default {d.token_item_kb:g})",
    )
    p.add_argument(
        "--index-entry-kb",
        type=_arg_pos_float,
        default=d.index_entry_kb,
        metavar="KB",
        help="size of one KEYS_ONLY ByStatus index entry (jobId, status, createdAt); each index write costs "
        f"ceil(KB) WRUs and queries read 0.5 RRU per 4 KB of entries (default {d.index_entry_kb:g})",
    )
    p.add_argument(
        "--gsi-writes",
        action=argparse.BooleanOptionalAction,
        default=d.gsi_writes,
        help="count the ByStatus index writes (KEYS_ONLY: 1 when a record is created, 2 when its status "
        "changes; none for other updates); --no-gsi-writes leaves index writes out (default on)",
    )
    p.add_argument(
        "--callback-transitions",
        type=_arg_nonneg_int,
        default=d.callback_transitions,
        metavar="N",
        help=f"state transitions per callback execution (default {d.callback_transitions})",
    )
    p.add_argument(
        "--loop-fixed-transitions",
        type=_arg_nonneg_int,
        default=d.loop_fixed_transitions,
        metavar="N",
        help=f"loop transitions per execution outside the polls (default {d.loop_fixed_transitions})",
    )
    p.add_argument(
        "--loop-transitions-per-poll",
        type=_arg_nonneg_int,
        default=d.loop_transitions_per_poll,
        metavar="N",
        help=f"loop transitions per poll: Wait, CheckStatus, Choice (default {d.loop_transitions_per_poll})",
    )
    p.add_argument("--prices", type=Path, metavar="FILE", help="price file (default: prices.json of this package)")


def workload_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Workload:
    d = Workload()
    profiles = {name: getattr(d, name) for name in ("create_job", "api_create", "api_check", "poller")}
    per_job_ms = d.poller_per_job_ms
    for key, mb in args.memory:
        for target in _MEMORY_TARGETS[key] if key else profiles:
            profiles[target] = replace(profiles[target], memory_mb=mb)
    for key, ms in args.duration_ms:
        for target in (key,) if key else _DURATION_TARGETS:
            if target == "poller_per_job":
                per_job_ms = ms
            else:
                profiles[target] = replace(profiles[target], duration_ms=ms)
    polls = d.polls_per_job
    interval = getattr(args, "poll_interval", None)
    job_duration = getattr(args, "job_duration", None)
    rate = args.schedule_rate_minutes
    if interval is not None and job_duration is None:
        parser.error("argument --poll-interval: only with --job-duration")
    if job_duration is not None:
        if interval is None:
            interval = 60.0 * (rate or 1)
        polls = polls_for_duration(job_duration, interval)
        if rate is None:
            rate = max(1, math.ceil(round(interval / 60, 9)))
    elif getattr(args, "polls_per_job", None) is not None:
        polls = args.polls_per_job
    try:
        return Workload(
            jobs_per_month=args.jobs_per_month,
            polls_per_job=polls,
            poller_per_job_ms=per_job_ms,
            architecture=Architecture(args.arch),
            free_tier=args.free_tier,
            scheduler=SchedulerMode(args.scheduler),
            schedule_rate_minutes=rate or 1,
            token_item_kb=args.token_item_kb,
            index_entry_kb=args.index_entry_kb,
            gsi_writes=args.gsi_writes,
            callback_transitions=args.callback_transitions,
            loop_fixed_transitions=args.loop_fixed_transitions,
            loop_transitions_per_poll=args.loop_transitions_per_poll,
            **profiles,
        )
    except ValueError as exc:
        parser.error(str(exc))
        raise  # unreachable: parser.error exits


def _prices_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Prices:
    try:
        return load_prices(args.prices) if args.prices else default_prices()
    except (OSError, ValueError) as exc:
        parser.error(f"argument --prices: {exc}")
        raise


def _cmd_cost(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.cost_parser
    prices = _prices_from_args(args, parser)
    if args.measured is not None:
        try:
            data = json.loads(Path(args.measured).read_text(encoding="utf-8"))
            est = estimate_measured(
                MeasuredUsage.from_dict(data["callback"], "callback"),
                MeasuredUsage.from_dict(data["loop"], "loop"),
                args.jobs_per_month,
                prices=prices,
                architecture=Architecture(args.arch),
                free_tier=args.free_tier,
            )
        except (OSError, KeyError, TypeError, ValueError) as exc:
            parser.error(f"argument --measured: {exc!s}")
    else:
        est = estimate(workload_from_args(args, parser), prices, max_polls=args.max_polls)
    if args.json:
        json.dump(est.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_estimate(est))
    return 0


def _cmd_cost_plot(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.cost_parser
    prices = _prices_from_args(args, parser)
    workload = workload_from_args(args, parser)
    if args.max_polls < 2:
        parser.error("argument --max-polls: must be >= 2 for a plot")
    from callbackctl import plot  # matplotlib only when plotting

    points = sweep(workload, range(1, args.max_polls + 1), prices)
    be = find_break_even(workload, prices)
    out = plot.plot_sweep(
        points,
        be,
        describe(workload, include_polls=False),
        args.output,
        subtitle=f"{prices.region} list prices ({prices.as_of})",
    )
    print(f"Wrote {out}")
    print(f"Break-even: {be.message} (searched 0..{be.max_polls:,})")
    print(format_sweep(sweep(workload, SELECTED_POLLS, prices)))
    return 0


def _paragraphs(*texts: str) -> str:
    return "\n".join(textwrap.fill(t, 78, subsequent_indent="  " if t.startswith("- ") else "") for t in texts)


def register(subparsers: Any) -> None:
    """Add the ``cost`` and ``cost-plot`` commands to an argparse subparsers object."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "cost",
        help="monthly cost: callback (task token) vs polling loop",
        description=_paragraphs(
            "Estimate the monthly AWS cost of the task-token callback design and of a Wait -> CheckStatus -> "
            "Choice polling loop, by service, with the saving and the polls per job from which the callback "
            "is cheaper.",
            "",
            *(f"- {a}" for a in ASSUMPTIONS),
        ),
        formatter_class=fmt,
    )
    _add_workload_args(p, with_polls=True)
    p.add_argument(
        "--max-polls",
        type=_arg_nonneg_int,
        default=MAX_POLLS_SEARCH,
        metavar="N",
        help=f"break-even search range 0..N polls per job (default {MAX_POLLS_SEARCH:,})",
    )
    p.add_argument(
        "--measured",
        type=Path,
        metavar="FILE",
        help='price measured counts instead of the formula: JSON {"callback": {"per_job": {...}, '
        '"fixed_monthly": {...}}, "loop": {...}} with fields ' + ", ".join(USAGE_FIELDS),
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_cost, cost_parser=p)

    q = subparsers.add_parser(
        "cost-plot",
        help="PNG of both designs' monthly cost and the saving across polls per job",
        description=_paragraphs(
            "Write a PNG of the monthly cost of both designs and the callback's saving for 1..--max-polls "
            "polls per job (log scale), marking the break-even, and print the saving at "
            + ", ".join(map(str, SELECTED_POLLS))
            + " polls per job."
        ),
        formatter_class=fmt,
    )
    _add_workload_args(q, with_polls=False)
    q.add_argument(
        "--output",
        "-o",
        type=Path,
        default=Path("cost-plot.png"),
        metavar="FILE",
        help="PNG file to write (default cost-plot.png)",
    )
    q.add_argument(
        "--max-polls",
        type=_arg_pos_int,
        default=200,
        metavar="N",
        help="largest polls per job on the x axis (default 200)",
    )
    q.set_defaults(func=_cmd_cost_plot, cost_parser=q)
