"""The capacity model (pure): for a stage's settings and a workload, the calls per second each part
makes against its quota, the shards needed and the headroom. Derivations in README ("Capacity")."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from callbackctl.capacity.quotas import Quotas
from callbackctl.capacity.schedule import PollCount, polls_per_job
from common.schedule import PollSchedule

WARN_BELOW = 1.5  # headroom (quota / used) under this is a warning
PARTITION_SAFETY = 0.5  # plan a partition for half its write limit
RUN_MARGIN_SECONDS = 15.0  # a run stops claiming this long (at most half its time) before its timeout
CREATE_JOB_SECONDS = 0.3  # a create_job invocation (validate, CREATE_JOB, two writes)
TRANSITIONS_PER_EXECUTION = 3  # start, CreateJob (.waitForTaskToken), Succeed
# Writes per job to the poll-state table and its ByDue index (cost/model.py `_callback_writes`).
TABLE_WRITES_PER_POLL = 1  # the claim: one small item (~200 bytes) = 1 WCU
INDEX_WRITES_PER_POLL = 2  # the claim moves dueAt, the index's sort key: delete + put
TABLE_WRITES_PER_JOB = 1 + 2 * 2  # put, and the two end transactions (billed double)
INDEX_WRITES_PER_JOB = 1 + 2 + 1  # insert, the decision's lease (delete + put), the finish's delete


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, kw_only=True)
class StageSettings:
    """What the model needs of a stage (stacks/config.py StageConfig), in real seconds."""

    stage: str
    schedule: PollSchedule
    schedule_interval: float
    poller_timeout: float
    poller_concurrency: int
    poller_reserved_concurrency: int | None
    send_task_rate: float  # the stage's share of the SendTask* quota
    job_api_rate: float
    max_attempts: int
    task_timeout: float
    schedule_rate_minutes: int


@dataclass(frozen=True, kw_only=True)
class Workload:
    waiting: int  # jobs waiting at once
    job_duration: float  # seconds from start to the job's end
    start_rate: float | None = None  # executions per second; None: waiting / duration (steady state)
    job_latency: float = 0.1  # seconds a poller thread spends on one job (claim, check, send)

    def __post_init__(self) -> None:
        if isinstance(self.waiting, bool) or not isinstance(self.waiting, int) or self.waiting < 1:
            raise ValueError(f"waiting must be a whole number of at least 1, got {self.waiting!r}")
        for name in ("job_duration", "job_latency"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number greater than 0, got {value!r}")
        rate = self.start_rate
        if rate is not None and not (isinstance(rate, int | float) and math.isfinite(rate) and rate > 0):
            raise ValueError(f"start_rate must be a number greater than 0, got {rate!r}")

    @property
    def starts_per_second(self) -> float:
        return self.start_rate if self.start_rate is not None else self.waiting / self.job_duration


@dataclass(frozen=True)
class Check:
    """One part's use of one limit. headroom = limit / used (None when nothing is used)."""

    key: str
    name: str
    used: float
    limit: float
    unit: str
    source: str = ""  # quotas.json key, or "stage" for a stage setting
    note: str = ""
    warn_below: float = WARN_BELOW  # 1: a limit with its margin already counted in

    @property
    def headroom(self) -> float | None:
        return self.limit / self.used if self.used > 0 else None

    @property
    def status(self) -> Status:
        room = self.headroom
        if room is None or room >= self.warn_below:
            return Status.OK
        return Status.WARN if room >= 1 else Status.FAIL


@dataclass(frozen=True)
class Rates:
    """What the workload makes per second (and per job)."""

    polls: PollCount
    starts: float
    heartbeats: float
    finals: float
    status_checks: float
    table_writes: float
    index_writes: float
    due_per_run: float  # due jobs of one shard per schedule interval


@dataclass(frozen=True)
class Capacity:
    settings: StageSettings
    workload: Workload
    rates: Rates
    checks: tuple[Check, ...]
    shards_needed: int
    quotas_region: str
    quotas_checked: str
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        worst = {c.status for c in self.checks}
        return Status.FAIL if Status.FAIL in worst else Status.WARN if Status.WARN in worst else Status.OK


def rates(s: StageSettings, w: Workload) -> Rates:
    polls = polls_per_job(s.schedule, w.job_duration)
    starts = w.starts_per_second
    status_checks = w.waiting * polls.polls / w.job_duration  # Little's law over the ages 0..duration
    return Rates(
        polls=polls,
        starts=starts,
        heartbeats=w.waiting / s.schedule.heartbeat_refresh,
        finals=starts,  # one SendTaskSuccess or SendTaskFailure per job
        status_checks=status_checks,
        table_writes=status_checks * TABLE_WRITES_PER_POLL + starts * TABLE_WRITES_PER_JOB,
        index_writes=status_checks * INDEX_WRITES_PER_POLL + starts * INDEX_WRITES_PER_JOB,
        due_per_run=status_checks / s.schedule.shards * s.schedule_interval,
    )


def run_seconds(s: StageSettings) -> float:
    """How long one run claims jobs: its timeout less the margin (at most half its time)."""
    return s.poller_timeout - min(RUN_MARGIN_SECONDS, s.poller_timeout / 2)


def run_capacity(s: StageSettings, w: Workload) -> float:
    """Jobs one shard's run can work: its threads' pace, capped by its share of the job API's rate."""
    pace = min(s.poller_concurrency / w.job_latency, s.job_api_rate / s.schedule.shards)
    return pace * run_seconds(s)


def shards_needed(s: StageSettings, w: Workload, r: Rates) -> int:
    """Enough shards that the busiest ByDue partition (one shard's dueShard value) stays under half its
    write limit, and that one shard's due jobs fit its run (at the threads' pace)."""
    partition = r.index_writes / (1_000 * PARTITION_SAFETY)
    per_run = r.status_checks * s.schedule_interval / (s.poller_concurrency / w.job_latency * run_seconds(s))
    return max(1, math.ceil(round(partition, 9)), math.ceil(round(per_run, 9)))


def lambda_concurrency(s: StageSettings, w: Workload, r: Rates) -> float:
    """Concurrent executions: the poller runs (one per shard, or its reservation, which the account's
    pool loses either way), create_job, and the simulated job API's calls (Little's law)."""
    poller = max(s.schedule.shards, s.poller_reserved_concurrency or 0)
    return poller + r.starts * CREATE_JOB_SECONDS + (r.status_checks + r.starts) * w.job_latency


def _api_checks(s: StageSettings, w: Workload, r: Rates, q: Quotas) -> tuple[Check, ...]:
    send = r.heartbeats + r.finals
    return (
        Check("sendTaskAccount", "SendTask* (account)", send, q["send_task"].value, "calls/s", "send_task",
              "heartbeats + one success/failure per job"),
        Check("sendTaskShare", "SendTask* (stage share)", send, s.send_task_rate, "calls/s", "stage",
              "sendTaskRatePerSecond"),
        Check("statusChecks", "Status checks (job API)", r.status_checks, s.job_api_rate, "calls/s", "stage",
              "jobApiRatePerSecond"),
        Check("startExecution", "StartExecution", r.starts, q["start_execution"].value, "calls/s", "start_execution"),
        Check("stateTransitions", "State transitions (Standard)", r.starts * TRANSITIONS_PER_EXECUTION,
              q["state_transition"].value, "transitions/s", "state_transition"),
        Check("lambdaConcurrency", "Lambda concurrency", lambda_concurrency(s, w, r),
              q["lambda_concurrency"].value, "concurrent", "lambda_concurrency"),
        Check("schedulerInvocations", "Scheduler invocations", s.schedule.shards / s.schedule_interval,
              q["scheduler_invocations"].value, "invocations/s", "scheduler_invocations"),
    )  # fmt: skip


def _store_and_run_checks(s: StageSettings, w: Workload, r: Rates, q: Quotas, need: int) -> tuple[Check, ...]:
    shards = s.schedule.shards
    return (
        Check("ddbPartitionWrites", "DynamoDB ByDue partition writes", r.index_writes / shards,
              q["ddb_partition_writes"].value, "WCU/s", "ddb_partition_writes", "one shard's dueShard value"),
        Check("ddbTableWrites", "DynamoDB poll-state writes", r.table_writes + r.index_writes,
              q["ddb_table_writes"].value, "WRU/s", "ddb_table_writes", "table + index"),
        Check("runThroughput", "Due jobs per shard run", r.due_per_run, run_capacity(s, w), "jobs/run", "stage",
              f"min({s.poller_concurrency} threads / {w.job_latency:g} s, job API share) x {run_seconds(s):g} s"),
        Check("shards", "Shards", need, shards, "shards", "stage", "pollerShards", warn_below=1.0),
        Check("attempts", "Status checks per job", r.polls.polls, s.max_attempts, "checks", "stage", "maxAttempts"),
        Check("taskTimeout", "Job duration", w.job_duration, s.task_timeout, "s", "stage", "taskTimeoutSeconds"),
    )  # fmt: skip


def capacity(s: StageSettings, w: Workload, q: Quotas) -> Capacity:
    """Every check of the workload against the stage's settings and the quotas."""
    r = rates(s, w)
    need = shards_needed(s, w, r)
    checks = _api_checks(s, w, r, q) + _store_and_run_checks(s, w, r, q, need)
    return Capacity(s, w, r, checks, need, q.region, q.checked, q.sources())
