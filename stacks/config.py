"""Stage settings: one frozen, keyword-only dataclass per deployment stage.

`cdk.json` context only selects a stage (`-c stage=aws`) or overrides single fields
(`-c maxAttempts=5`); nothing here reads the environment.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from aws_cdk import RemovalPolicy
from aws_cdk.aws_dynamodb import TableEncryption
from aws_cdk.aws_logs import RetentionDays

from common.schedule import MAX_ATTEMPTS_CAP, PollSchedule, heartbeat_refresh

__all__ = ["MAX_ATTEMPTS_CAP", "ConfigError", "StageConfig", "load_stage_config"]

DEFAULT_STAGE: Final = "local"
# Step Functions' limit on a state's input or output (and on the execution input).
STATE_LIMIT_BYTES: Final = 262_144
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A stage name or a context override that cannot be used."""


LAMBDA_MAX_TIMEOUT_SECONDS: Final = 900
# The simulated API's timeout outlasts create_job's by this much (stacks/simulated_api.py).
SIMULATED_API_TIMEOUT_MARGIN_SECONDS: Final = 15


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    """Everything that differs between stages. Durations are in the unit their name says.

    `schedule_clock_speed` is how much faster than real time the scheduler firing the poller's
    schedule runs: 1 on AWS; the local cloud can run its clock faster (tests/e2e uses 20). It
    only enters the consistency checks, which are about real seconds between poller runs.

    `task_tokens_encryption` is the task-token table's key: AWS_MANAGED (the account's
    `aws/dynamodb` key) or CUSTOMER_MANAGED (a key of the stack's own, kept as long as the table:
    its records are bearer tokens). `poller_reserved_concurrency` reserves that many concurrent
    executions for the poller; None leaves it in the account's unreserved pool.
    """

    stage: str
    schedule_rate_minutes: int
    schedule_clock_speed: float
    max_attempts: int
    # A job's poll schedule (common/schedule.py), in schedule seconds like the rate: the first wait,
    # the back-off factor and the longest wait between two polls of a job.
    poll_interval_seconds: int
    poll_backoff_factor: float
    poll_max_interval_seconds: int
    # Pending jobs are split over this many shards, each with its own schedule and at most one run.
    poller_shards: int
    # Client-side rate limits shared by all shards: this app's share of the account's SendTask*
    # quota (500/s, 3,000 burst in the large regions; 300/s elsewhere), and the job API's limit.
    send_task_rate_per_second: int
    job_api_rate_per_second: int
    task_timeout_seconds: int
    heartbeat_timeout_seconds: int
    completion_polls_min: int
    completion_polls_max: int
    removal_policy: RemovalPolicy
    log_retention: RetentionDays
    task_tokens_encryption: TableEncryption
    poller_concurrency: int
    poller_reserved_concurrency: int | None
    # The most create_job invocations at once (None: unreserved). A burst of executions beyond it
    # is throttled and CreateJob retries with backoff, instead of every start competing for the
    # account's concurrency (and for the job API's) at once.
    create_job_reserved_concurrency: int | None
    # create_job's Lambda timeout. A timed-out invocation's work is lost (its environment is
    # replaced, CreateJob retries it); where every call shares one machine, a loaded one must not
    # turn slow calls into retried ones.
    create_job_timeout_seconds: int
    # The simulated job API's own concurrency (None: unreserved). A real external API does not
    # share the account's Lambda quota; on the local cloud's small quota this keeps create_job and
    # the poller from starving each other's calls to it.
    simulated_api_reserved_concurrency: int | None
    poller_timeout_seconds: int
    claim_seconds: int
    record_ttl_days: int
    max_input_bytes: int
    log_level: str
    alarm_email: str = ""  # empty: alarms go to the SNS topic with no subscription
    # Pass $$.Execution.RedriveCount to create_job, so a redriven execution starts a new job. AWS
    # and the local cloud have it; LocalStack core without our extension fails the execution on it.
    pass_redrive_count: bool = True

    def __post_init__(self) -> None:
        for field in _INT_FIELDS:
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{field} must be a positive integer, got {value!r}")
        speed = self.schedule_clock_speed
        if isinstance(speed, bool) or not isinstance(speed, int | float) or not 0 < speed < math.inf:
            raise ConfigError(f"schedule_clock_speed must be a positive number, got {speed!r}")
        if self.completion_polls_min > self.completion_polls_max:
            raise ConfigError(
                f"completion_polls_min ({self.completion_polls_min}) must not exceed "
                f"completion_polls_max ({self.completion_polls_max})"
            )
        factor = self.poll_backoff_factor
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 1 <= factor <= 10:
            raise ConfigError(f"poll_backoff_factor must be a number from 1 to 10, got {factor!r}")
        if not self.schedule_rate_minutes * 60 <= self.poll_interval_seconds <= self.poll_max_interval_seconds:
            raise ConfigError(
                f"poll_interval_seconds ({self.poll_interval_seconds}) must be from one schedule interval "
                f"({self.schedule_rate_minutes * 60} s) to poll_max_interval_seconds ({self.poll_max_interval_seconds})"
            )
        # A poll owes a heartbeat once the last one is heartbeat_refresh old; a lapsed claim or a
        # late run may delay it (common/schedule.py has the bound): some refresh must fit.
        if self.heartbeat_refresh_seconds < 1:
            lag, lease = self.poll_lag_seconds, self.claim_seconds
            raise ConfigError(
                f"heartbeat_timeout_seconds ({self.heartbeat_timeout_seconds}) leaves no time between heartbeats: "
                f"it must exceed 2 x (schedule interval + poller run) = {2 * lag:g} s plus a lapsed claim "
                f"(claim_seconds {lease}) by at least 2 s: at least {2 * lag + max(2, lease + 1):g} s"
            )
        if self.heartbeat_timeout_seconds >= self.task_timeout_seconds:
            raise ConfigError(
                f"heartbeat_timeout_seconds ({self.heartbeat_timeout_seconds}) must be less than "
                f"task_timeout_seconds ({self.task_timeout_seconds})"
            )
        if self.task_tokens_encryption not in (TableEncryption.AWS_MANAGED, TableEncryption.CUSTOMER_MANAGED):
            raise ConfigError(
                f"task_tokens_encryption must be AWS_MANAGED or CUSTOMER_MANAGED, got {self.task_tokens_encryption!r}"
            )
        # One run per shard at a time (a shard lease), plus one started by hand (`callbackctl poll`).
        reserved = self.poller_reserved_concurrency
        if reserved is not None and (
            isinstance(reserved, bool) or not isinstance(reserved, int) or reserved < self.poller_shards + 1
        ):
            raise ConfigError(
                f"poller_reserved_concurrency must be None or at least {self.poller_shards + 1} (one run per "
                f"shard, poller_shards {self.poller_shards}, plus one started by hand), got {reserved!r}"
            )
        for name in ("create_job_reserved_concurrency", "simulated_api_reserved_concurrency"):
            cap = getattr(self, name)
            if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
                raise ConfigError(f"{name} must be None or a positive integer, got {cap!r}")
        # Lambda runs a function at most 900 s, and the simulated API's timeout outlasts create_job's.
        longest = LAMBDA_MAX_TIMEOUT_SECONDS - SIMULATED_API_TIMEOUT_MARGIN_SECONDS
        if self.create_job_timeout_seconds > longest:
            raise ConfigError(
                f"create_job_timeout_seconds ({self.create_job_timeout_seconds}) must be at most {longest} "
                f"(Lambda's {LAMBDA_MAX_TIMEOUT_SECONDS} s, less the simulated API's "
                f"{SIMULATED_API_TIMEOUT_MARGIN_SECONDS} s margin)"
            )
        # A claim must outlive the poller run that holds it, or a second run could take the
        # job while the first is still sending.
        if self.claim_seconds <= self.poller_timeout_seconds:
            raise ConfigError(
                f"claim_seconds ({self.claim_seconds}) must exceed "
                f"poller_timeout_seconds ({self.poller_timeout_seconds})"
            )
        # Attempts must run out before the task times out, or MaxAttemptsExceeded never happens.
        if self.max_attempts > self.max_attempts_limit:
            span = self.poll_schedule.polling_span(self.max_attempts)
            raise ConfigError(
                f"max_attempts ({self.max_attempts}) polls take up to {span:g} s with the poll schedule "
                f"(poll_interval_seconds, poll_backoff_factor, poll_max_interval_seconds): they must end before "
                f"task_timeout_seconds ({self.task_timeout_seconds}); at most {self.max_attempts_limit} fit"
            )
        if self.record_ttl_days * 86_400 <= self.task_timeout_seconds:
            raise ConfigError(
                f"record_ttl_days ({self.record_ttl_days}) must outlast "
                f"task_timeout_seconds ({self.task_timeout_seconds})"
            )
        if not 1_024 <= self.max_input_bytes <= STATE_LIMIT_BYTES // 2:
            raise ConfigError(
                f"max_input_bytes ({self.max_input_bytes}) must be from 1024 to {STATE_LIMIT_BYTES // 2}: "
                "the input and the job result must fit the 256 KiB state limit together"
            )
        if self.alarm_email and ("@" not in self.alarm_email or " " in self.alarm_email):
            raise ConfigError(f"alarm_email must be an e-mail address, got {self.alarm_email!r}")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")

    @property
    def simulated_api_timeout_seconds(self) -> int:
        """Longer than create_job's, so an injected delay can time create_job out after the job exists."""
        return self.create_job_timeout_seconds + SIMULATED_API_TIMEOUT_MARGIN_SECONDS

    @property
    def schedule_interval_seconds(self) -> float:
        """Real seconds between two poller runs."""
        return self.schedule_rate_minutes * 60 / self.schedule_clock_speed

    @property
    def poll_lag_seconds(self) -> float:
        """How late a due job may be reached: one schedule interval plus one poller run (real s)."""
        return self.schedule_interval_seconds + self.poller_timeout_seconds

    @property
    def heartbeat_refresh_seconds(self) -> float:
        """A poll owes a job a heartbeat once its last one is this old (real seconds)."""
        return heartbeat_refresh(
            heartbeat_timeout=self.heartbeat_timeout_seconds,
            lag=self.poll_lag_seconds,
            sending_lease=self.claim_seconds,
        )

    @property
    def poll_schedule(self) -> PollSchedule:
        """The schedule the functions get (real seconds)."""
        speed = self.schedule_clock_speed
        return PollSchedule(
            initial=self.poll_interval_seconds / speed,
            min_initial=self.schedule_interval_seconds,
            cap=self.poll_max_interval_seconds / speed,
            factor=float(self.poll_backoff_factor),
            heartbeat_refresh=self.heartbeat_refresh_seconds,
            lag=self.poll_lag_seconds,
            task_timeout=float(self.task_timeout_seconds),
            shards=self.poller_shards,
            clock_speed=float(speed),
        )

    @property
    def max_attempts_limit(self) -> int:
        """The most status checks an execution may ask for: they must all happen before the task
        times out (the poll schedule's back-off counted), and never more than MAX_ATTEMPTS_CAP."""
        return self.poll_schedule.attempts_limit()


_INT_FIELDS: Final = tuple(f.name for f in dataclasses.fields(StageConfig) if f.type == "int")

STAGES: Final[Mapping[str, StageConfig]] = {
    "local": StageConfig(
        stage="local",
        schedule_rate_minutes=1,
        schedule_clock_speed=1,
        max_attempts=10,
        poll_interval_seconds=60,
        poll_backoff_factor=1.5,
        poll_max_interval_seconds=180,
        poller_shards=1,
        send_task_rate_per_second=200,
        job_api_rate_per_second=200,
        task_timeout_seconds=30 * 60,  # outlasts max_attempts polls (backed off) and a late run
        heartbeat_timeout_seconds=10 * 60,  # two late runs, a lapsed claim and a refresh
        completion_polls_min=2,
        completion_polls_max=3,
        removal_policy=RemovalPolicy.DESTROY,
        log_retention=RetentionDays.ONE_WEEK,
        task_tokens_encryption=TableEncryption.AWS_MANAGED,
        poller_concurrency=4,
        # The local cloud can fire the schedule many times faster (bench: 30x), so runs overlap.
        poller_reserved_concurrency=None,
        # The local cloud runs every invocation on this machine, behind one LocalStack process: 300
        # create_job invocations at once each took longer than their 15 s timeout, and the retries
        # made it worse. Ten at a time, a burst waits in CreateJob's throttling retries instead
        # (500 at once, 0 lost: README "Guarantees").
        create_job_reserved_concurrency=10,
        # 15 s timed out 134 create_job invocations when LocalStack's one process fell behind under
        # 2,000 executions started at once (make bench, 2026-12-02 04:23 UTC): each was retried and
        # paid a new environment, which made the backlog longer.
        create_job_timeout_seconds=60,
        simulated_api_reserved_concurrency=None,
        poller_timeout_seconds=60,
        claim_seconds=75,
        record_ttl_days=1,
        max_input_bytes=64 * 1024,
        log_level="DEBUG",
    ),
    "aws": StageConfig(
        stage="aws",
        schedule_rate_minutes=1,
        schedule_clock_speed=1,
        max_attempts=40,
        poll_interval_seconds=60,
        poll_backoff_factor=1.5,
        # Longer than the heartbeat refresh (780 s): a long job is checked once per heartbeat.
        poll_max_interval_seconds=900,
        poller_shards=8,
        # Half the account's SendTask* quota of the large regions (500/s): other workflows share it.
        send_task_rate_per_second=250,
        # The external API's limit: `callbackctl capacity` shows 100,000 waiting 2-hour jobs need ~200/s.
        job_api_rate_per_second=500,
        task_timeout_seconds=8 * 60 * 60,
        # 30 minutes: one heartbeat per job every 13 minutes keeps 100,000 waiting jobs near
        # 130 SendTaskHeartbeat/s (`callbackctl capacity`); a dead poller is noticed within 30 minutes.
        heartbeat_timeout_seconds=30 * 60,
        completion_polls_min=2,
        completion_polls_max=5,
        removal_policy=RemovalPolicy.RETAIN,
        log_retention=RetentionDays.ONE_MONTH,
        task_tokens_encryption=TableEncryption.CUSTOMER_MANAGED,
        poller_concurrency=8,
        poller_reserved_concurrency=10,
        create_job_reserved_concurrency=None,
        create_job_timeout_seconds=15,
        simulated_api_reserved_concurrency=None,
        poller_timeout_seconds=60,
        claim_seconds=120,
        record_ttl_days=7,
        max_input_bytes=64 * 1024,
        log_level="INFO",
    ),
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# Context key (camelCase, as typed after `-c`) -> dataclass field.
OVERRIDE_KEYS: Final[Mapping[str, str]] = {
    _camel(f.name): f.name for f in dataclasses.fields(StageConfig) if f.name != "stage"
}


def _parse_int(key: str, raw: object) -> int:
    if isinstance(raw, bool):
        raise ConfigError(f"context {key} must be an integer, got {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw.strip())
    raise ConfigError(f"context {key} must be an integer, got {raw!r}")


def _parse_number(key: str, raw: object) -> float:
    if isinstance(raw, bool):
        raise ConfigError(f"context {key} must be a number, got {raw!r}")
    if isinstance(raw, int | float):
        return raw
    try:
        return float(str(raw).strip())
    except ValueError:
        raise ConfigError(f"context {key} must be a number, got {raw!r}") from None


def _parse_bool(key: str, raw: object) -> bool:
    text = str(raw).strip().lower()
    if text not in ("true", "false"):
        raise ConfigError(f"context {key} must be true or false, got {raw!r}")
    return text == "true"


def _parse_enum(key: str, raw: object, enum: Any) -> Any:
    names = [member.name for member in enum]
    name = str(raw).strip().upper()
    if name not in names:
        raise ConfigError(f"context {key} must be one of {', '.join(names)}, got {raw!r}")
    return enum[name]


def _parse_override(key: str, field: str, raw: object) -> object:
    if field == "removal_policy":
        return _parse_enum(key, raw, RemovalPolicy)
    if field == "log_retention":
        return _parse_enum(key, raw, RetentionDays)
    if field == "task_tokens_encryption":
        return _parse_enum(key, raw, TableEncryption)
    if (
        field in ("poller_reserved_concurrency", "create_job_reserved_concurrency")
        and str(raw).strip().lower() == "none"
    ):
        return None
    if field == "log_level":
        return str(raw).strip().upper()
    if field == "alarm_email":
        return str(raw).strip()
    if field == "pass_redrive_count":
        return _parse_bool(key, raw)
    if field in ("schedule_clock_speed", "poll_backoff_factor"):
        return _parse_number(key, raw)
    return _parse_int(key, raw)


def load_stage_config(stage: str | None, overrides: Mapping[str, object] | None = None) -> StageConfig:
    """The named stage's settings with context overrides (camelCase keys) applied.

    `stage=None` selects the default stage. Raises `ConfigError` naming the valid choices.
    """
    name = DEFAULT_STAGE if stage is None else stage
    if name not in STAGES:
        raise ConfigError(f"unknown stage {name!r}; valid stages: {', '.join(sorted(STAGES))}")
    changes: dict[str, Any] = {}
    for key, raw in (overrides or {}).items():
        if key not in OVERRIDE_KEYS:
            raise ConfigError(f"unknown setting {key!r}; valid settings: {', '.join(sorted(OVERRIDE_KEYS))}")
        changes[OVERRIDE_KEYS[key]] = _parse_override(key, OVERRIDE_KEYS[key], raw)
    return dataclasses.replace(STAGES[name], **changes)
