"""The workload (what one month looks like) and the formula: what each design spends per job and per month."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from callbackctl.cost.prices import Architecture, DesignCost, Prices, price_measured
from callbackctl.cost.usage import MeasuredUsage, Usage, check_int, check_number, lambda_gb_s

MINUTES_PER_MONTH = 43_200  # 30 days x 24 h x 60 min
LAMBDA_MAX_MS = 900_000  # a Lambda invocation lasts at most 15 minutes


class SchedulerMode(StrEnum):
    STATIC = "static"  # one schedule rate(N minutes); each run checks every pending job
    PER_JOB = "per-job"  # one schedule per job; one invocation per poll per job


class Design(StrEnum):
    CALLBACK = "callback"
    LOOP = "loop"


@dataclass(frozen=True)
class LambdaProfile:
    """Configured memory and average billed duration of one kind of invocation."""

    memory_mb: int = 128
    duration_ms: float = 20.0

    def __post_init__(self) -> None:
        check_int("memory_mb", self.memory_mb, 128, 10_240)
        check_number("duration_ms", self.duration_ms, 0.0)

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
    token_item_kb: float = 2.5  # largest token record: token (<= 2,048 chars) + ~300 bytes (ARN, decision, ...)
    index_entry_kb: float = 0.1  # one index entry: jobId, dueShard, dueAt, heartbeatAt, intervalMs (~100 bytes)
    gsi_writes: bool = True  # count the index writes (see design_usage)
    # The scale step keeps the hot poll state (~200 bytes) apart from the token record, and a poll
    # writes only it. False: the earlier single record, rewritten by every claim and release (what
    # the benchmark's single-table counter still measures).
    poll_state_table: bool = True
    poll_state_kb: float = 0.2
    # Heartbeats a job gets (each reads the token record); None: one per poll but the last, the
    # most a job can get. `callbackctl capacity` passes duration / heartbeat refresh.
    heartbeats_per_job: float | None = None
    shards: int = 1  # poller runs per schedule firing: one per shard, each with its own query and lease
    callback_transitions: int = 3  # start, CreateJob (.waitForTaskToken), Succeed
    loop_fixed_transitions: int = 3  # start, CreateJob, Succeed
    loop_transitions_per_poll: int = 3  # Wait, CheckStatus, Choice
    minutes_per_month: int = MINUTES_PER_MONTH

    def __post_init__(self) -> None:
        check_int("jobs_per_month", self.jobs_per_month, 0)
        check_int("polls_per_job", self.polls_per_job, 0)
        for name in ("create_job", "api_create", "api_check", "poller"):
            if not isinstance(getattr(self, name), LambdaProfile):
                raise TypeError(f"{name} must be a LambdaProfile")
        check_number("poller_per_job_ms", self.poller_per_job_ms, 0.0)
        object.__setattr__(self, "architecture", Architecture(self.architecture))
        object.__setattr__(self, "scheduler", SchedulerMode(self.scheduler))
        check_int("schedule_rate_minutes", self.schedule_rate_minutes, 1)
        check_number("token_item_kb", self.token_item_kb, 0.0, strict=True)
        check_number("index_entry_kb", self.index_entry_kb, 0.0, strict=True)
        check_number("poll_state_kb", self.poll_state_kb, 0.0, strict=True)
        if self.heartbeats_per_job is not None:
            check_number("heartbeats_per_job", self.heartbeats_per_job, 0.0)
        check_int("shards", self.shards, 1, 1_000)
        for name in ("token_item_kb", "index_entry_kb", "poll_state_kb"):
            if getattr(self, name) > 400:
                raise ValueError(f"{name} must be <= 400 (DynamoDB item limit), got {getattr(self, name)}")
        for name in ("callback_transitions", "loop_fixed_transitions", "loop_transitions_per_poll"):
            check_int(name, getattr(self, name), 0)
        check_int("minutes_per_month", self.minutes_per_month, 1)

    @classmethod
    def from_duration(cls, job_duration_s: float, poll_interval_s: float, **kwargs: Any) -> Workload:
        return cls(polls_per_job=polls_for_duration(job_duration_s, poll_interval_s), **kwargs)

    def with_polls(self, polls_per_job: int) -> Workload:
        return replace(self, polls_per_job=polls_per_job)

    @property
    def scheduled_runs(self) -> int:
        """Poller runs a month from the static schedules: one per shard per firing."""
        return math.ceil(self.minutes_per_month / self.schedule_rate_minutes) * self.shards

    @property
    def wru_per_token_write(self) -> int:
        return math.ceil(self.token_item_kb)

    @property
    def wru_per_index_write(self) -> int:
        return math.ceil(self.index_entry_kb)

    @property
    def wru_per_poll_state_write(self) -> int:
        return math.ceil(self.poll_state_kb)


def polls_for_duration(job_duration_s: float, poll_interval_s: float) -> int:
    """Status checks until a job of this duration is seen finished: ceil(duration / interval)."""
    check_number("job_duration", job_duration_s, 0.0, strict=True)
    check_number("poll_interval", poll_interval_s, 0.0, strict=True)
    return max(1, math.ceil(round(job_duration_s / poll_interval_s, 9)))


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

    ddb_wru, token_reads = _callback_writes(w, p)
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
            ddb_rru=float(max(p, token_reads) * math.ceil(w.token_item_kb / 4)),
        )
        return MeasuredUsage(per_job=per_job)
    runs = w.scheduled_runs
    per_job = Usage(
        transitions=w.callback_transitions,
        lambda_requests=lambda_requests,
        lambda_gb_s=gb_s,
        ddb_wru=ddb_wru,
        ddb_rru=_query_rru_per_job(w) + token_reads * math.ceil(w.token_item_kb / 4),
    )
    fixed = Usage(
        lambda_requests=runs,
        lambda_gb_s=runs * w.poller.gb_s,
        scheduler_invocations=runs,
        ddb_rru=runs * 0.5,  # a query costs at least 0.5 RRU, even when empty
        # each run takes and gives back its shard's lease (a small poll-state item)
        ddb_wru=runs * 2.0 if w.poll_state_table else 0.0,
    )
    return MeasuredUsage(per_job=per_job, fixed_monthly=fixed)


def _callback_writes(w: Workload, p: int) -> tuple[float, float]:
    """Write units per job of the callback design, and its token-record reads (ConsistentRead GetItem).

    Poll state apart from the token (poll_state_table, lambda_src/poller/store.py):
    - token record (ceil(token KB) WRU): written once by create_job, then twice at the end, by the
      decision-before-send and the final-status transactions; a transactional write bills 2 WRU per KB;
    - poll state (ceil(poll state KB) WRU): put by create_job, one claim per poll (the claim sets the
      next poll: a running job needs no second write), and the two end transactions (lease set, delete);
    - ByDue index: an entry inserted with the poll state; every claim changes `dueAt`, the index's sort
      key, which DynamoDB bills as a delete plus a put in the index (2 writes), as does the stored
      decision's lease; the finish deletes it (1). So 4 + 2p index writes.
    - reads: each heartbeat and the final decision read the token record.
    Before the scale step (poll_state_table=False): one record, put + a claim per poll + a release
    after each heartbeat (p - 1) + the finish = 2p + 1 writes; its KEYS_ONLY ByStatus index took an
    insert and a delete + insert on the status change = 3; the claim returned the record, no reads.
    With no poll (the break-even search's p = 0) only the put happens.
    """
    token, index = w.wru_per_token_write, w.wru_per_index_write
    if not w.poll_state_table:
        table_writes, index_writes = (2 * p + 1, 3) if p else (1, 1)
        return token * table_writes + (index * index_writes if w.gsi_writes else 0), 0.0
    small = w.wru_per_poll_state_write
    if not p:
        return token + small + (index if w.gsi_writes else 0), 0.0
    table = token + 2 * 2 * token + small + p * small + 2 * 2 * small
    index_writes = 1 + 2 * p + 2 + 1
    heartbeats = p - 1 if w.heartbeats_per_job is None else min(w.heartbeats_per_job, p)
    return float(table + (index * index_writes if w.gsi_writes else 0)), heartbeats + 1.0


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


def totals(workload: Workload, polls: int, prices: Prices) -> tuple[float, float]:
    """The month's total of (callback, loop) at ``polls`` polls per job."""
    w = workload.with_polls(polls)
    return design_cost(w, Design.CALLBACK, prices).total_usd, design_cost(w, Design.LOOP, prices).total_usd
