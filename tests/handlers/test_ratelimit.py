"""poller.ratelimit: the token bucket a run's worker threads share, on a clock of the test's own."""

from __future__ import annotations

import pytest

from poller.ratelimit import THROTTLE_PAUSE_SECONDS, RateLimiter


class FakeTime:
    """A monotonic clock that only moves when the limiter sleeps (or the test advances it). The
    tests' rates are powers of two, so the arithmetic is exact and a wait is never a rounding crumb."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0 and len(self.sleeps) < 100, f"the limiter keeps sleeping: {self.sleeps[-3:]}"
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(rate: float, time: FakeTime, burst: float = 0.0) -> RateLimiter:
    return RateLimiter(rate_per_second=rate, burst=burst, clock=time, sleep=time.sleep)


@pytest.mark.parametrize("rate", [0, -1, 0.0])
def test_a_rate_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError) as raised:
        RateLimiter(rate_per_second=rate)
    assert str(raised.value) == f"rate_per_second must be > 0, got {rate!r}"


@pytest.mark.parametrize(("rate", "burst"), [(0.5, 1.0), (1.0, 1.0), (5.0, 5.0), (250.0, 250.0)])
def test_the_burst_is_one_seconds_worth_and_at_least_one_call(rate: float, burst: float) -> None:
    assert RateLimiter(rate_per_second=rate).burst == burst


def test_a_burst_given_is_kept() -> None:
    assert RateLimiter(rate_per_second=5, burst=2).burst == 2


def test_a_new_bucket_is_full_then_calls_go_out_at_the_rate() -> None:
    time = FakeTime()
    bucket = limiter(4, time)
    assert [bucket.acquire() for _ in range(4)] == [0.0] * 4  # a full second's worth at once
    assert time.sleeps == []
    assert bucket.acquire() == 0.25  # then one every 1/rate seconds
    assert bucket.acquire() == 0.25
    assert time.sleeps == [0.25, 0.25]


def test_a_bucket_refills_at_the_rate_up_to_its_burst() -> None:
    time = FakeTime()
    bucket = limiter(4, time, burst=2)
    assert [bucket.acquire(), bucket.acquire()] == [0.0, 0.0]
    time.now += 0.25  # one call's worth back
    assert bucket.acquire() == 0.0
    assert bucket.acquire() == 0.25
    time.now += 3600  # idle for an hour: still only the burst at once
    assert [bucket.acquire(), bucket.acquire()] == [0.0, 0.0]
    assert bucket.acquire() == 0.25


def test_a_partly_refilled_bucket_waits_only_for_the_rest_of_a_call() -> None:
    time = FakeTime()
    bucket = limiter(4, time, burst=1)
    assert bucket.acquire() == 0.0
    time.now += 0.0625  # a quarter of a call back
    assert bucket.acquire() == 0.1875  # the other three quarters of it
    assert time.sleeps == [0.1875]


def test_a_slow_rate_waits_whole_seconds() -> None:
    time = FakeTime()
    bucket = limiter(0.5, time)
    assert bucket.acquire() == 0.0
    assert bucket.acquire() == 2.0
    assert time.now == 1002.0


def test_throttling_empties_the_bucket_and_pauses_it() -> None:
    time = FakeTime()
    bucket = limiter(128, time)
    bucket.throttled()
    # Nothing for the pause, however full the bucket was; then the refill of the pause is there.
    assert bucket.acquire() == THROTTLE_PAUSE_SECONDS
    assert time.sleeps == [THROTTLE_PAUSE_SECONDS]
    assert bucket.acquire() == 0.0


def test_after_a_pause_a_slow_bucket_still_refills_from_empty() -> None:
    """The pause empties the bucket: at half a call a second, the first call after a one-second
    pause waits one more second (the pause refilled half a call), two seconds in all."""
    time = FakeTime()
    bucket = limiter(0.5, time)
    bucket.throttled()
    assert THROTTLE_PAUSE_SECONDS == 1.0
    assert bucket.acquire() == 2.0
    assert time.sleeps == [1.0, 1.0]


def test_a_second_throttle_extends_the_pause_and_never_shortens_it() -> None:
    time = FakeTime()
    bucket = limiter(128, time)
    bucket.throttled()
    time.now += 0.5
    bucket.throttled()  # paused until 1.0 s from now
    assert bucket.acquire() == 1.0
    assert time.now == 1001.5


def test_a_pause_ends_when_its_time_is_up() -> None:
    time = FakeTime()
    bucket = limiter(128, time)
    bucket.throttled()
    time.now += THROTTLE_PAUSE_SECONDS  # the pause is over and has refilled the bucket
    assert bucket.acquire() == 0.0
    assert time.sleeps == []
