"""Stage selection and context overrides (no synth needed)."""

from __future__ import annotations

import dataclasses

import pytest
from aws_cdk import RemovalPolicy
from aws_cdk.aws_dynamodb import TableEncryption
from aws_cdk.aws_logs import RetentionDays

from common.schedule import PollSchedule
from stacks.config import MAX_ATTEMPTS_CAP, STAGES, ConfigError, StageConfig, load_stage_config


def test_default_stage_is_local() -> None:
    assert load_stage_config(None) == STAGES["local"]


def test_unknown_stage_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown stage 'prod'; valid stages: aws, local"):
        load_stage_config("prod")


def test_local_stage_is_quick_and_disposable() -> None:
    config = load_stage_config("local")
    assert (config.schedule_rate_minutes, config.max_attempts) == (1, 10)
    assert config.task_timeout_seconds == 30 * 60
    assert config.heartbeat_timeout_seconds == 10 * 60
    assert (config.poller_timeout_seconds, config.claim_seconds) == (60, 75)
    assert (config.completion_polls_min, config.completion_polls_max) == (2, 3)
    # Polled a minute after the start, then backed off by 1.5 up to 3 minutes; one shard.
    assert (config.poll_interval_seconds, config.poll_backoff_factor, config.poll_max_interval_seconds) == (
        60,
        1.5,
        180,
    )
    assert config.poller_shards == 1
    assert (config.send_task_rate_per_second, config.job_api_rate_per_second) == (200, 200)
    assert config.removal_policy == RemovalPolicy.DESTROY
    assert config.log_retention == RetentionDays.ONE_WEEK
    # AWS-managed key and no reservation: what the local cloud runs without surprises.
    assert config.task_tokens_encryption == TableEncryption.AWS_MANAGED
    assert config.poller_reserved_concurrency is None


def test_aws_stage_keeps_data_and_waits_longer() -> None:
    config = load_stage_config("aws")
    assert (config.schedule_rate_minutes, config.max_attempts) == (1, 40)
    assert config.task_timeout_seconds == 8 * 60 * 60
    assert config.heartbeat_timeout_seconds == 30 * 60
    assert (config.poller_timeout_seconds, config.claim_seconds) == (60, 120)
    assert (config.poll_interval_seconds, config.poll_backoff_factor, config.poll_max_interval_seconds) == (
        60,
        1.5,
        900,
    )
    assert config.poller_shards == 8
    # Half the account's 500/s SendTask* quota; the job API's own limit.
    assert (config.send_task_rate_per_second, config.job_api_rate_per_second) == (250, 500)
    assert config.removal_policy == RemovalPolicy.RETAIN
    assert config.log_level == "INFO"
    assert config.task_tokens_encryption == TableEncryption.CUSTOMER_MANAGED
    # One run per shard plus one started by hand, and one to spare.
    assert config.poller_reserved_concurrency == 10


@pytest.mark.parametrize(
    ("stage", "lag", "refresh"),
    [
        # min((heartbeat - 2 x lag) / 2, heartbeat - 2 x lag - claim), lag = interval + poller run
        ("local", 60 + 60, 180),  # min((600 - 240) / 2, 600 - 240 - 75) = min(180, 285)
        ("aws", 60 + 60, 780),  # min((1800 - 240) / 2, 1800 - 240 - 120) = min(780, 1440)
    ],
)
def test_heartbeat_refresh_per_stage(stage: str, lag: float, refresh: float) -> None:
    config = load_stage_config(stage)
    assert config.poll_lag_seconds == lag
    assert config.heartbeat_refresh_seconds == refresh
    # The worst gap between two heartbeats (common/schedule.py) still fits the heartbeat timeout.
    worst_gap = max(2 * refresh, refresh + config.claim_seconds) + 2 * lag
    assert worst_gap <= config.heartbeat_timeout_seconds


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (
            "local",
            PollSchedule(
                initial=60.0,
                min_initial=60.0,
                cap=180.0,
                factor=1.5,
                heartbeat_refresh=180.0,
                lag=120.0,
                task_timeout=1800.0,
                shards=1,
                clock_speed=1.0,
            ),
        ),
        (
            "aws",
            PollSchedule(
                initial=60.0,
                min_initial=60.0,
                cap=900.0,
                factor=1.5,
                heartbeat_refresh=780.0,
                lag=120.0,
                task_timeout=28_800.0,
                shards=8,
                clock_speed=1.0,
            ),
        ),
    ],
)
def test_poll_schedule_per_stage(stage: str, expected: PollSchedule) -> None:
    schedule = load_stage_config(stage).poll_schedule
    assert schedule == expected
    assert PollSchedule.from_json(schedule.to_json()) == expected


def test_poll_schedule_is_in_real_seconds_on_a_faster_clock() -> None:
    # Settings are in schedule seconds, like the rate; the functions get real seconds.
    schedule = load_stage_config("local", {"scheduleClockSpeed": "20"}).poll_schedule
    assert (schedule.initial, schedule.min_initial, schedule.cap, schedule.clock_speed) == (3.0, 3.0, 9.0, 20.0)
    assert schedule.lag == 3 + 60


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
        ({"pollBackoffFactor": "fast"}, r"context pollBackoffFactor must be a number, got 'fast'"),
        ({"pollBackoffFactor": True}, r"context pollBackoffFactor must be a number"),
        ({"pollIntervalSeconds": "1.5"}, r"context pollIntervalSeconds must be an integer"),
        ({"pollerShards": "0"}, r"poller_shards must be a positive integer, got 0"),
        ({"sendTaskRatePerSecond": "0"}, r"send_task_rate_per_second must be a positive integer, got 0"),
        ({"jobApiRatePerSecond": "-5"}, r"job_api_rate_per_second must be a positive integer, got -5"),
    ],
)
def test_bad_override_is_a_clear_error(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_stage_config("local", overrides)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"completion_polls_min": 4, "completion_polls_max": 3}, r"must not exceed"),
        # Two late runs (one schedule interval plus one poller run each: 2 x 120 s) and a lapsed
        # claim (75 s) must leave at least 1 s between heartbeats: 240 + 76 = 316 s at least.
        (
            {"heartbeat_timeout_seconds": 315},
            r"heartbeat_timeout_seconds \(315\) leaves no time between heartbeats: it must exceed "
            r"2 x \(schedule interval \+ poller run\) = 240 s plus a lapsed claim \(claim_seconds 75\) "
            r"by at least 2 s: at least 316 s",
        ),
        (
            {"heartbeat_timeout_seconds": 1800},
            r"heartbeat_timeout_seconds \(1800\) must be less than task_timeout_seconds",
        ),
        ({"claim_seconds": 60}, r"claim_seconds \(60\) must exceed poller_timeout_seconds"),
        # 11 backed-off polls (60, 90, 135, then 180 s each) end 1725 s after the start, 1845 s with
        # a late run: past the 30-minute task timeout.
        (
            {"max_attempts": 11},
            r"max_attempts \(11\) polls take up to 1845 s with the poll schedule \(poll_interval_seconds, "
            r"poll_backoff_factor, poll_max_interval_seconds\): they must end before task_timeout_seconds "
            r"\(1800\); at most 10 fit",
        ),
        ({"record_ttl_days": 1, "task_timeout_seconds": 2 * 86_400}, r"must outlast"),
        # One run per shard (one shard locally) plus one started by hand.
        (
            {"poller_reserved_concurrency": 1},
            r"poller_reserved_concurrency must be None or at least 2 \(one run per shard, poller_shards 1, "
            r"plus one started by hand\), got 1",
        ),
        ({"poller_reserved_concurrency": 0}, r"poller_reserved_concurrency must be None or at least"),
        ({"poller_reserved_concurrency": True}, r"poller_reserved_concurrency must be None or at least"),
        ({"poller_shards": 4, "poller_reserved_concurrency": 4}, r"at least 5 \(one run per shard, poller_shards 4"),
        ({"poller_shards": 0}, r"poller_shards must be a positive integer, got 0"),
        # A job's first wait: from one schedule interval (a run cannot come sooner) to the longest wait.
        (
            {"poll_interval_seconds": 59},
            r"poll_interval_seconds \(59\) must be from one schedule interval \(60 s\) to "
            r"poll_max_interval_seconds \(180\)",
        ),
        ({"poll_interval_seconds": 181}, r"poll_interval_seconds \(181\) must be from one schedule interval"),
        ({"poll_max_interval_seconds": 59, "poll_interval_seconds": 60}, r"to poll_max_interval_seconds \(59\)"),
        ({"poll_interval_seconds": 90, "schedule_rate_minutes": 2}, r"from one schedule interval \(120 s\)"),
        ({"poll_backoff_factor": 0.99}, r"poll_backoff_factor must be a number from 1 to 10, got 0\.99"),
        ({"poll_backoff_factor": 10.5}, r"poll_backoff_factor must be a number from 1 to 10, got 10\.5"),
        ({"poll_backoff_factor": float("nan")}, r"poll_backoff_factor must be a number from 1 to 10, got nan"),
        ({"poll_backoff_factor": True}, r"poll_backoff_factor must be a number from 1 to 10, got True"),
        ({"poll_backoff_factor": "2"}, r"poll_backoff_factor must be a number from 1 to 10, got '2'"),
        ({"send_task_rate_per_second": 0}, r"send_task_rate_per_second must be a positive integer"),
        ({"job_api_rate_per_second": 0}, r"job_api_rate_per_second must be a positive integer"),
    ],
)
def test_inconsistent_settings_are_rejected(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(STAGES["local"], **changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"heartbeat_timeout_seconds": 316},  # the minimum the message names: a 1 s refresh
        {"max_attempts": 10},  # the most that fit
        {"poller_reserved_concurrency": 2},
        {"poller_shards": 4, "poller_reserved_concurrency": 5},
        {"poll_interval_seconds": 60},
        {"poll_interval_seconds": 180, "max_attempts": 9},  # the first wait may be the longest one
        {"poll_backoff_factor": 1},  # no back-off
        {"poll_backoff_factor": 10, "max_attempts": 9},  # 60 s, then 180 s: 9 polls fit
        {"poll_backoff_factor": 2.5},
    ],
)
def test_the_bounds_of_the_checks_are_accepted(changes: dict[str, object]) -> None:
    config = dataclasses.replace(STAGES["local"], **changes)
    assert all(getattr(config, name) == value for name, value in changes.items())


def test_the_heartbeat_bound_grows_with_the_claim() -> None:
    # With a claim longer than one refresh, the lapsed claim decides: 240 + 200 + 1 = 441 s.
    with pytest.raises(ConfigError, match=r"\(claim_seconds 200\) by at least 2 s: at least 441 s"):
        dataclasses.replace(STAGES["local"], claim_seconds=200, heartbeat_timeout_seconds=440)
    assert (
        dataclasses.replace(STAGES["local"], claim_seconds=200, heartbeat_timeout_seconds=441).heartbeat_refresh_seconds
        == 1
    )


def test_the_aws_stage_checks_its_own_shards() -> None:
    with pytest.raises(ConfigError, match=r"at least 9 \(one run per shard, poller_shards 8"):
        load_stage_config("aws", {"pollerReservedConcurrency": "8"})
    assert load_stage_config("aws", {"pollerReservedConcurrency": "9"}).poller_reserved_concurrency == 9
    assert load_stage_config("aws", {"pollerShards": "9"}).poller_shards == 9  # 10 reserved: 9 shards + 1
    with pytest.raises(ConfigError, match=r"at least 11 \(one run per shard, poller_shards 10"):
        load_stage_config("aws", {"pollerShards": "10"})
    with pytest.raises(ConfigError, match=r"max_attempts \(42\) polls take up to .* at most 41 fit"):
        load_stage_config("aws", {"maxAttempts": "42"})


def test_backoff_factor_from_context() -> None:
    assert load_stage_config("local", {"pollBackoffFactor": "2.5"}).poll_backoff_factor == 2.5
    assert load_stage_config("local", {"pollBackoffFactor": 2}).poll_backoff_factor == 2
    with pytest.raises(ConfigError, match=r"poll_backoff_factor must be a number from 1 to 10, got 0\.5"):
        load_stage_config("local", {"pollBackoffFactor": "0.5"})
    with pytest.raises(ConfigError, match=r"poll_backoff_factor must be a number from 1 to 10, got inf"):
        load_stage_config("local", {"pollBackoffFactor": "inf"})


def test_a_faster_local_clock_allows_shorter_heartbeats() -> None:
    from tests.e2e.conftest import DEPLOY_CONTEXT  # what tests/e2e deploys: rate(1 minute) every 3 s

    config = load_stage_config("local", DEPLOY_CONTEXT)
    assert config.schedule_interval_seconds == 3
    lag = config.schedule_interval_seconds + config.poller_timeout_seconds
    assert config.poll_lag_seconds == lag
    assert config.heartbeat_refresh_seconds >= 1
    assert (
        max(2 * config.heartbeat_refresh_seconds, config.heartbeat_refresh_seconds + config.claim_seconds) + (2 * lag)
        <= config.heartbeat_timeout_seconds
    )
    # At real speed the same heartbeat timeout cannot cover two 70 s late runs.
    with pytest.raises(ConfigError, match=r"leaves no time between heartbeats: it must exceed .* = 140 s"):
        load_stage_config("local", {**DEPLOY_CONTEXT, "scheduleClockSpeed": "1"})


@pytest.mark.parametrize(
    ("stage", "overrides", "limit"),
    [
        # Waits of 60, 90, 135, then 180 s: 10 polls end by 1545 s, 1665 s with a late run (< 1800).
        ("local", {}, 10),
        # No back-off: a poll a minute, 27 x 60 + 120 = 1740 s < 1800 s.
        ("local", {"pollBackoffFactor": "1"}, 27),
        # Waits of 60, 90, 135, 202.5, 303.75, 455.625, 683.4375 s, then 780 s (a poll never waits
        # past the heartbeat refresh; the cap is 900 s): 1930.3 + 34 x 780 + 120 < 28,800: 41 polls.
        ("aws", {}, 41),
        # 1000 polls would take over 600,000 s at 780 s each: 7 + 766 fit.
        ("aws", {"taskTimeoutSeconds": "600000"}, 773),
        # Capped at 1000 polls.
        ("aws", {"taskTimeoutSeconds": "900000", "recordTtlDays": "30"}, 1000),
        # A 20x clock: waits of 3 s, then 4 s (the heartbeat refresh, min((30 - 18) / 2, 30 - 18 - 8)),
        # a 3 + 6 s lag, and a 300 s task timeout: 3 + 71 x 4 + 9 = 296 s < 300 s.
        (
            "local",
            {
                "scheduleClockSpeed": "20",
                "pollerTimeoutSeconds": "6",
                "claimSeconds": "8",
                "heartbeatTimeoutSeconds": "30",
                "taskTimeoutSeconds": "300",
            },
            72,
        ),
    ],
)
def test_per_execution_max_attempts_are_capped_by_the_task_timeout(
    stage: str, overrides: dict[str, object], limit: int
) -> None:
    config = load_stage_config(stage, overrides)
    assert config.max_attempts_limit == limit
    schedule = config.poll_schedule
    assert schedule.polling_span(limit) < config.task_timeout_seconds
    if limit < MAX_ATTEMPTS_CAP:
        assert schedule.polling_span(limit + 1) >= config.task_timeout_seconds


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
    assert load_stage_config("local").create_job_reserved_concurrency == 10  # the local cloud's capacity
    assert load_stage_config("aws").create_job_reserved_concurrency is None
    assert load_stage_config("aws").simulated_api_reserved_concurrency is None
    assert load_stage_config("local", {"createJobReservedConcurrency": "8"}).create_job_reserved_concurrency == 8
    with pytest.raises(ConfigError, match="create_job_reserved_concurrency must be None or a positive integer"):
        load_stage_config("local", {"createJobReservedConcurrency": "0"})


def test_create_job_timeout_fits_lambdas_limit() -> None:
    local = load_stage_config("local", {"createJobTimeoutSeconds": "885"})
    assert (local.create_job_timeout_seconds, local.simulated_api_timeout_seconds) == (885, 900)
    assert load_stage_config("aws").simulated_api_timeout_seconds == 30
    with pytest.raises(ConfigError, match=r"create_job_timeout_seconds \(886\) must be at most 885 \(Lambda's 900 s"):
        load_stage_config("local", {"createJobTimeoutSeconds": "886"})
    with pytest.raises(ConfigError, match="create_job_timeout_seconds must be a positive integer"):
        load_stage_config("local", {"createJobTimeoutSeconds": "0"})
