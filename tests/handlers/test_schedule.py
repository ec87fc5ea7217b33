"""common.schedule: the poll schedule's arithmetic (waits, back-off, heartbeat refresh, the attempts
that fit a task's timeout, an execution's own first interval) and a job's shard."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from typing import Any

import pytest

from common.schedule import JITTER, MAX_ATTEMPTS_CAP, PollSchedule, heartbeat_refresh, shard_of


def schedule(**overrides: Any) -> PollSchedule:
    settings: dict[str, Any] = {
        "initial": 10.0,
        "min_initial": 5.0,
        "cap": 100.0,
        "factor": 2.0,
        "heartbeat_refresh": 50.0,
        "lag": 7.0,
        "task_timeout": 1000.0,
        "shards": 4,
    }
    settings.update(overrides)
    return PollSchedule(**settings)


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(
    ("timeout", "lag", "lease", "refresh"),
    [
        (900.0, 100.0, 60.0, 350.0),  # two refresh periods are the longer gap
        (900.0, 100.0, 500.0, 200.0),  # one refresh and the sending lease are
        (900.0, 100.0, 350.0, 350.0),  # both the same
        (200.0, 100.0, 60.0, -60.0),  # impossible: nothing is left
    ],
)
def test_the_heartbeat_refresh_is_the_longest_whose_worst_gap_fits_the_timeout(
    timeout: float, lag: float, lease: float, refresh: float
) -> None:
    assert heartbeat_refresh(heartbeat_timeout=timeout, lag=lag, sending_lease=lease) == refresh
    if refresh > 0:  # the worst gap (docs/design.md, "Heartbeats") is exactly the timeout
        assert max(2 * refresh, refresh + lease) + 2 * lag == timeout


def test_a_jobs_shard_is_stable_and_named_by_a_number() -> None:
    assert [shard_of(f"job-{i}", 16) for i in range(8)] == ["12", "9", "7", "7", "5", "9", "12", "8"]
    assert (shard_of("abc", 1_000_003), shard_of("abc", 7), shard_of("abc", 1)) == ("422935", "5", "0")


def test_jobs_spread_evenly_over_the_shards() -> None:
    counts = Counter(shard_of(f"job-{i}", 4) for i in range(4000))
    assert set(counts) == {"0", "1", "2", "3"}
    assert all(900 <= n <= 1100 for n in counts.values()), counts


def test_a_schedule_goes_through_json_and_back_with_its_keys_sorted() -> None:
    original = schedule(clock_speed=60.0, shards=3)
    text = original.to_json()
    assert PollSchedule.from_json(text) == original
    fields = json.loads(text)
    assert list(fields) == sorted(fields)
    assert fields["clock_speed"] == 60.0 and fields["shards"] == 3
    assert PollSchedule.from_json(schedule().to_json()).clock_speed == 1.0  # real time unless told


@pytest.mark.parametrize(("drawn", "wait"), [(0.0, 40.0), (0.5, 38.0), (0.999, 36.004)])
def test_a_wait_is_the_interval_shortened_by_up_to_the_jitter(drawn: float, wait: float) -> None:
    assert JITTER == 0.1
    assert schedule().wait(40.0, FixedRandom(drawn)) == pytest.approx(wait)


def test_without_a_generator_of_its_own_a_wait_is_random_within_the_jitter() -> None:
    random.seed(7)
    waits = [schedule().wait(100.0) for _ in range(200)]
    assert all(90.0 < w <= 100.0 for w in waits)
    assert len(set(waits)) > 100  # spread, not one value


@pytest.mark.parametrize(("interval", "following"), [(10.0, 20.0), (40.0, 80.0), (50.0, 100.0), (60.0, 100.0)])
def test_an_interval_grows_by_the_factor_up_to_the_cap(interval: float, following: float) -> None:
    assert schedule().next_interval(interval) == following


def test_a_factor_of_one_keeps_the_interval() -> None:
    assert schedule(factor=1.0).next_interval(30.0) == 30.0


@pytest.mark.parametrize(
    ("attempts", "initial", "span"),
    [
        (0, None, 7.0),  # no poll: only the lag
        (1, None, 17.0),  # 10 + lag
        (4, None, 127.0),  # 10 + 20 + 40 + 50 (a heartbeat's deadline cuts 80 short) + lag
        (6, None, 227.0),  # ... + 50 + 50 (the cap of 100 is cut short too)
        (3, 30.0, 137.0),  # the execution's own first interval: 30 + 50 + 50 + lag
    ],
)
def test_the_polling_span_adds_every_wait_a_heartbeat_leaves_and_the_lag(
    attempts: int, initial: float | None, span: float
) -> None:
    assert schedule().polling_span(attempts, initial) == span


@pytest.mark.parametrize(
    ("timeout", "initial", "attempts"),
    [
        (127.0, None, 3),  # four polls take exactly the timeout: only three fit (strictly less)
        (127.5, None, 4),
        (17.0, None, 0),  # not even one
        (17.5, None, 1),
        (137.5, 30.0, 3),  # from the execution's own first interval
        (137.0, 30.0, 2),
    ],
)
def test_the_attempts_limit_counts_the_polls_that_end_before_the_timeout(
    timeout: float, initial: float | None, attempts: int
) -> None:
    assert schedule(task_timeout=timeout).attempts_limit(initial) == attempts


def test_the_attempts_limit_is_capped() -> None:
    assert MAX_ATTEMPTS_CAP == 1000
    assert schedule(task_timeout=1e9).attempts_limit() == 1000


@pytest.mark.parametrize(("asked", "real"), [(5.0, 5.0), (100.0, 100.0), (42.5, 42.5)])
def test_an_executions_first_interval_within_the_bounds_is_taken(asked: float, real: float) -> None:
    assert schedule().requested_initial(asked) == real


@pytest.mark.parametrize(
    ("asked", "shown"), [(4.99, "4.99"), (100.01, "100.01"), (math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")]
)
def test_an_executions_first_interval_out_of_bounds_is_refused_with_the_bounds(asked: float, shown: str) -> None:
    with pytest.raises(ValueError) as raised:
        schedule().requested_initial(asked)
    assert str(raised.value) == f"pollIntervalSeconds must be from 5 to 100, got {shown}"


def test_on_a_fast_clock_an_executions_interval_is_in_schedule_seconds() -> None:
    """The local cloud runs its schedule 60 times faster: an execution asks in schedule seconds
    (as the stage settings are), and the poller waits that in real seconds."""
    fast = schedule(clock_speed=60.0)
    assert fast.requested_initial(300.0) == 5.0
    assert fast.requested_initial(6000.0) == 100.0
    with pytest.raises(ValueError, match=r"^pollIntervalSeconds must be from 300 to 6000, got 299\.0$"):
        fast.requested_initial(299.0)
    with pytest.raises(ValueError, match=r"from 300 to 6000, got 6001\.0$"):
        fast.requested_initial(6001.0)
