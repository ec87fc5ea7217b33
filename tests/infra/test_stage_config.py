"""Stage selection and context overrides (no synth needed)."""

from __future__ import annotations

import dataclasses

import pytest
from aws_cdk import RemovalPolicy
from aws_cdk.aws_dynamodb import TableEncryption
from aws_cdk.aws_logs import RetentionDays

from stacks.config import STAGES, ConfigError, StageConfig, load_stage_config


def test_default_stage_is_local() -> None:
    assert load_stage_config(None) == STAGES["local"]


def test_unknown_stage_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown stage 'prod'; valid stages: aws, local"):
        load_stage_config("prod")


def test_local_stage_is_quick_and_disposable() -> None:
    config = load_stage_config("local")
    assert (config.schedule_rate_minutes, config.max_attempts) == (1, 10)
    assert config.task_timeout_seconds == 15 * 60
    assert config.heartbeat_timeout_seconds == 4 * 60
    assert (config.poller_timeout_seconds, config.claim_seconds) == (60, 75)
    assert (config.completion_polls_min, config.completion_polls_max) == (2, 3)
    assert config.removal_policy == RemovalPolicy.DESTROY
    assert config.log_retention == RetentionDays.ONE_WEEK
    # AWS-managed key and no reservation: what the local cloud runs without surprises.
    assert config.task_tokens_encryption == TableEncryption.AWS_MANAGED
    assert config.poller_reserved_concurrency is None


def test_aws_stage_keeps_data_and_waits_longer() -> None:
    config = load_stage_config("aws")
    assert (config.schedule_rate_minutes, config.max_attempts) == (1, 60)
    assert config.task_timeout_seconds == 2 * 60 * 60
    assert config.heartbeat_timeout_seconds == 5 * 60
    assert config.removal_policy == RemovalPolicy.RETAIN
    assert config.log_level == "INFO"
    assert config.task_tokens_encryption == TableEncryption.CUSTOMER_MANAGED
    assert config.poller_reserved_concurrency == 5


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        STAGES["local"].max_attempts = 3  # type: ignore[misc]


@pytest.mark.parametrize("raw", ["5", 5, " 5 "])
def test_override_takes_context_strings_and_numbers(raw: object) -> None:
    config = load_stage_config("aws", {"maxAttempts": raw})
    assert config.max_attempts == 5
    assert config.task_timeout_seconds == STAGES["aws"].task_timeout_seconds


def test_key_and_reservation_can_be_turned_off_on_aws() -> None:
    # An account whose Lambda concurrency quota is 10 (new accounts) cannot reserve any.
    config = load_stage_config("aws", {"taskTokensEncryption": "aws_managed", "pollerReservedConcurrency": "none"})
    assert config.task_tokens_encryption == TableEncryption.AWS_MANAGED
    assert config.poller_reserved_concurrency is None
    assert load_stage_config("local", {"pollerReservedConcurrency": "3"}).poller_reserved_concurrency == 3


def test_overrides_of_enum_and_text_settings() -> None:
    config = load_stage_config("local", {"removalPolicy": "retain", "logRetention": "one_day", "logLevel": "warning"})
    assert config.removal_policy == RemovalPolicy.RETAIN
    assert config.log_retention == RetentionDays.ONE_DAY
    assert config.log_level == "WARNING"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"maxAttempts": "five"}, r"context maxAttempts must be an integer, got 'five'"),
        ({"maxAttempts": True}, r"context maxAttempts must be an integer"),
        ({"maxAttempts": "0"}, r"max_attempts must be a positive integer, got 0"),
        ({"removalPolicy": "keep"}, r"context removalPolicy must be one of DESTROY, RETAIN"),
        ({"logLevel": "loud"}, r"log_level must be one of DEBUG, INFO, WARNING, ERROR"),
        ({"maxAttempt": "5"}, r"unknown setting 'maxAttempt'; valid settings: .*maxAttempts"),
        ({"taskTokensEncryption": "kms"}, r"context taskTokensEncryption must be one of .*CUSTOMER_MANAGED"),
        # AWS-owned (DEFAULT) would be a step down from the AWS-managed key both tables had.
        ({"taskTokensEncryption": "default"}, r"task_tokens_encryption must be AWS_MANAGED or CUSTOMER_MANAGED"),
        ({"pollerReservedConcurrency": "many"}, r"context pollerReservedConcurrency must be an integer"),
    ],
)
def test_bad_override_is_a_clear_error(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_stage_config("local", overrides)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"completion_polls_min": 4, "completion_polls_max": 3}, r"must not exceed"),
        # A crashed poller's claim lapses, then one more run may be late: the task must not time out.
        (
            {"heartbeat_timeout_seconds": 194},
            r"claim_seconds 75\) plus two schedule intervals \(60 s each\): at least 195 s",
        ),
        ({"heartbeat_timeout_seconds": 900}, r"must be less than task_timeout_seconds"),
        ({"claim_seconds": 60}, r"claim_seconds \(60\) must exceed poller_timeout_seconds"),
        ({"max_attempts": 15}, r"max_attempts \(15\) x the schedule interval \(60 s\) = 900 s must be less"),
        ({"record_ttl_days": 1, "task_timeout_seconds": 2 * 86_400}, r"must outlast"),
        # Two scheduled runs can overlap (60 s runs every 60 s), plus one started by hand.
        ({"poller_reserved_concurrency": 2}, r"poller_reserved_concurrency must be None or at least 3"),
        ({"poller_reserved_concurrency": 0}, r"poller_reserved_concurrency must be None or at least"),
    ],
)
def test_inconsistent_settings_are_rejected(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(STAGES["local"], **changes)


def test_a_faster_local_clock_allows_shorter_heartbeats() -> None:
    from tests.e2e.conftest import DEPLOY_CONTEXT  # what tests/e2e deploys: rate(1 minute) every 3 s

    config = load_stage_config("local", DEPLOY_CONTEXT)
    assert config.schedule_interval_seconds == 3
    assert config.heartbeat_timeout_seconds >= config.claim_seconds + 2 * 3
    with pytest.raises(ConfigError, match=r"plus two schedule intervals \(60 s each\)"):
        load_stage_config("local", {**DEPLOY_CONTEXT, "scheduleClockSpeed": "1"})


@pytest.mark.parametrize(
    ("stage", "overrides", "limit"),
    [
        ("local", {}, 14),  # 15 checks a minute apart would reach the 900 s task timeout
        ("aws", {}, 119),  # 2 h task timeout, one check a minute
        ("aws", {"taskTimeoutSeconds": "86400"}, 1000),  # capped
        ("local", {"scheduleClockSpeed": "20", "taskTimeoutSeconds": "300", "heartbeatTimeoutSeconds": "200"}, 99),
    ],
)
def test_per_execution_max_attempts_are_capped_by_the_task_timeout(
    stage: str, overrides: dict[str, object], limit: int
) -> None:
    config = load_stage_config(stage, overrides)
    assert config.max_attempts_limit == limit
    assert config.max_attempts_limit * config.schedule_interval_seconds < config.task_timeout_seconds


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"maxInputBytes": "1023"}, r"max_input_bytes \(1023\) must be from 1024 to 131072"),
        ({"maxInputBytes": "131073"}, r"must be from 1024 to 131072"),
        ({"alarmEmail": "ops at example.com"}, r"alarm_email must be an e-mail address"),
    ],
)
def test_input_limit_and_alarm_email_are_checked(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_stage_config("local", overrides)


def test_alarm_email_from_context() -> None:
    assert load_stage_config("aws", {"alarmEmail": " ops@example.com "}).alarm_email == "ops@example.com"


@pytest.mark.parametrize("raw", ["0", "-2", "fast", False])
def test_clock_speed_must_be_a_positive_number(raw: object) -> None:
    with pytest.raises(
        ConfigError, match=r"scheduleClockSpeed must be a number|schedule_clock_speed must be a positive"
    ):
        load_stage_config("local", {"scheduleClockSpeed": raw})


def test_every_setting_can_be_overridden_from_context() -> None:
    from stacks.config import OVERRIDE_KEYS

    settable = {field.name for field in dataclasses.fields(StageConfig)} - {"stage"}
    assert set(OVERRIDE_KEYS.values()) == settable
    assert OVERRIDE_KEYS["heartbeatTimeoutSeconds"] == "heartbeat_timeout_seconds"


def test_redrive_count_can_be_left_out_for_targets_without_it() -> None:
    assert load_stage_config("local").pass_redrive_count is True
    assert load_stage_config("local", {"passRedriveCount": "false"}).pass_redrive_count is False
    with pytest.raises(ConfigError, match="passRedriveCount must be true or false"):
        load_stage_config("local", {"passRedriveCount": "maybe"})


def test_create_job_and_api_reservations_are_optional_settings() -> None:
    assert load_stage_config("local").create_job_reserved_concurrency is None
    assert load_stage_config("aws").simulated_api_reserved_concurrency is None
    assert load_stage_config("local", {"createJobReservedConcurrency": "8"}).create_job_reserved_concurrency == 8
    with pytest.raises(ConfigError, match="create_job_reserved_concurrency must be None or a positive integer"):
        load_stage_config("local", {"createJobReservedConcurrency": "0"})
