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

DEFAULT_STAGE: Final = "local"
# Step Functions' limit on a state's input or output (and on the execution input).
STATE_LIMIT_BYTES: Final = 262_144
MAX_ATTEMPTS_CAP: Final = 1000
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A stage name or a context override that cannot be used."""


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
        if isinstance(speed, bool) or not isinstance(speed, int | float) or not speed > 0:
            raise ConfigError(f"schedule_clock_speed must be a positive number, got {speed!r}")
        if self.completion_polls_min > self.completion_polls_max:
            raise ConfigError(
                f"completion_polls_min ({self.completion_polls_min}) must not exceed "
                f"completion_polls_max ({self.completion_polls_max})"
            )
        # The poller heartbeats every waiting job once per scheduled run. A poller that dies holding
        # a job's claim delays it until the claim lapses; then one more run may be late or fail.
        min_heartbeat = self.claim_seconds + 2 * self.schedule_interval_seconds
        if self.heartbeat_timeout_seconds < min_heartbeat:
            raise ConfigError(
                f"heartbeat_timeout_seconds ({self.heartbeat_timeout_seconds}) must cover a lapsed claim "
                f"(claim_seconds {self.claim_seconds}) plus two schedule intervals "
                f"({self.schedule_interval_seconds:g} s each): at least {min_heartbeat:g} s"
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
        # Scheduled runs that can overlap (a run lasts up to the poller's timeout; one ending as
        # the next fires counts), plus one run started by hand (`callbackctl poll`): a smaller
        # reservation would throttle scheduled runs.
        overlapping_runs = math.floor(self.poller_timeout_seconds / self.schedule_interval_seconds) + 1
        reserved = self.poller_reserved_concurrency
        if reserved is not None and (
            isinstance(reserved, bool) or not isinstance(reserved, int) or reserved < overlapping_runs + 1
        ):
            raise ConfigError(
                f"poller_reserved_concurrency must be None or at least {overlapping_runs + 1} ({overlapping_runs} "
                f"scheduled runs can overlap, plus one started by hand), got {reserved!r}"
            )
        for name in ("create_job_reserved_concurrency", "simulated_api_reserved_concurrency"):
            cap = getattr(self, name)
            if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
                raise ConfigError(f"{name} must be None or a positive integer, got {cap!r}")
        # A claim must outlive the poller run that holds it, or a second run could take the
        # job while the first is still sending.
        if self.claim_seconds <= self.poller_timeout_seconds:
            raise ConfigError(
                f"claim_seconds ({self.claim_seconds}) must exceed "
                f"poller_timeout_seconds ({self.poller_timeout_seconds})"
            )
        # Attempts must run out before the task times out, or MaxAttemptsExceeded never happens.
        polling_seconds = self.max_attempts * self.schedule_interval_seconds
        if polling_seconds >= self.task_timeout_seconds:
            raise ConfigError(
                f"max_attempts ({self.max_attempts}) x the schedule interval ({self.schedule_interval_seconds:g} s) "
                f"= {polling_seconds:g} s must be less than task_timeout_seconds ({self.task_timeout_seconds})"
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
    def schedule_interval_seconds(self) -> float:
        """Real seconds between two poller runs."""
        return self.schedule_rate_minutes * 60 / self.schedule_clock_speed

    @property
    def max_attempts_limit(self) -> int:
        """The most status checks an execution may ask for: they must all happen before the task
        times out (one per schedule interval), and never more than MAX_ATTEMPTS_CAP."""
        fitting = math.ceil(self.task_timeout_seconds / self.schedule_interval_seconds) - 1
        return max(1, min(MAX_ATTEMPTS_CAP, fitting))


_INT_FIELDS: Final = tuple(f.name for f in dataclasses.fields(StageConfig) if f.type == "int")

STAGES: Final[Mapping[str, StageConfig]] = {
    "local": StageConfig(
        stage="local",
        schedule_rate_minutes=1,
        schedule_clock_speed=1,
        max_attempts=10,
        task_timeout_seconds=15 * 60,  # outlasts max_attempts x the schedule interval
        heartbeat_timeout_seconds=4 * 60,  # a lapsed claim plus two intervals
        completion_polls_min=2,
        completion_polls_max=3,
        removal_policy=RemovalPolicy.DESTROY,
        log_retention=RetentionDays.ONE_WEEK,
        task_tokens_encryption=TableEncryption.AWS_MANAGED,
        poller_concurrency=4,
        # The local cloud can fire the schedule many times faster (bench: 30x), so runs overlap.
        poller_reserved_concurrency=None,
        create_job_reserved_concurrency=None,
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
        max_attempts=60,
        task_timeout_seconds=2 * 60 * 60,
        heartbeat_timeout_seconds=5 * 60,
        completion_polls_min=2,
        completion_polls_max=5,
        removal_policy=RemovalPolicy.RETAIN,
        log_retention=RetentionDays.ONE_MONTH,
        task_tokens_encryption=TableEncryption.CUSTOMER_MANAGED,
        poller_concurrency=8,
        poller_reserved_concurrency=5,
        create_job_reserved_concurrency=None,
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
    if field == "schedule_clock_speed":
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
