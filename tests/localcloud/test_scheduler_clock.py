"""The scheduler's timing rules (pure functions of the extension, loaded without LocalStack)."""

from __future__ import annotations

from types import ModuleType, SimpleNamespace

import pytest

from tests.localcloud.helpers import extension_module


@pytest.fixture(scope="module")
def scheduler() -> ModuleType:
    return extension_module("scheduler")


def schedule(expression: str, modified: float, **extra: object) -> SimpleNamespace:
    fields: dict[str, object] = {
        "schedule_expression": expression,
        "schedule_expression_timezone": "UTC",
        "start_date": None,
        "end_date": None,
        "last_modified_date": modified,
    }
    fields.update(extra)
    return SimpleNamespace(**fields)


def test_clock_speed_shortens_a_rate_in_real_time(scheduler: ModuleType) -> None:
    clock = scheduler.VirtualClock(12, origin=1_000.0)
    timer = scheduler.ScheduleTimer(schedule("rate(1 minute)", modified=1_000.0), clock)

    assert not timer.due(clock.to_virtual(1_004.9))
    assert timer.due(clock.to_virtual(1_005.0))  # 60 s of schedule time = 5 s of wall time


def test_missed_rate_slots_fire_once_then_keep_the_cadence(scheduler: ModuleType) -> None:
    clock = scheduler.VirtualClock(1, origin=0.0)
    timer = scheduler.ScheduleTimer(schedule("rate(5 minutes)", modified=0.0), clock)

    timer.advance(1_000.0)  # 3 slots (300, 600, 900) were missed

    assert timer.next_at == 1_200.0


def test_end_date_stops_a_schedule(scheduler: ModuleType) -> None:
    clock = scheduler.VirtualClock(1, origin=0.0)
    timer = scheduler.ScheduleTimer(schedule("rate(1 minute)", modified=0.0, end_date=90.0), clock)

    assert timer.due(60.0)
    timer.advance(60.0)
    assert not timer.due(120.0)


def test_at_fires_once_in_its_timezone(scheduler: ModuleType) -> None:
    clock = scheduler.VirtualClock(1, origin=0.0)
    timer = scheduler.ScheduleTimer(
        schedule("at(2030-01-01T01:00:00)", modified=0.0, schedule_expression_timezone="Europe/Paris"), clock
    )

    assert timer.next_at == 1_893_456_000.0  # 2030-01-01T00:00:00Z
    timer.advance(timer.next_at)
    assert timer.next_at is None


def test_changing_the_speed_keeps_the_clock_continuous(scheduler: ModuleType) -> None:
    clock = scheduler.VirtualClock(1, origin=0.0)
    before = clock.now()
    clock.set_speed(100)

    assert clock.now() >= before


@pytest.mark.parametrize(
    ("aws", "crontab"),
    [
        ("0 12 * * ? *", "0 12 * * * *"),
        ("0/15 * ? * 2-6 *", "0/15 * * * 1-5 *"),  # AWS MON-FRI is 2-6
        ("0 8 ? * MON-FRI 2030", "0 8 * * MON-FRI 2030"),
        ("0 0 1 * ? *", "0 0 1 * * *"),
    ],
)
def test_aws_cron_fields_become_crontab_fields(scheduler: ModuleType, aws: str, crontab: str) -> None:
    assert scheduler.aws_cron_to_crontab(aws) == crontab


def test_unsupported_expressions_are_rejected(scheduler: ModuleType) -> None:
    with pytest.raises(ValueError, match="unsupported schedule expression"):
        scheduler.ScheduleTimer(schedule("every tuesday", modified=0.0), scheduler.VirtualClock(1))
