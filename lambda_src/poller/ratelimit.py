"""A client-side rate limit shared by a run's worker threads: a token bucket.

Each shard's run gets its share of the stage's limits (SendTask* calls, job API calls), so all
shards together stay under them. A throttling answer from the service pauses the bucket for a
moment as well: the job that got it is given back and comes due again, nothing is lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

THROTTLE_PAUSE_SECONDS = 1.0


@dataclass(kw_only=True)
class RateLimiter:
    rate_per_second: float  # sustained calls per second
    burst: float = 0.0  # calls allowed at once (default: one second's worth)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _tokens: float = field(init=False, default=0.0)
    _stamp: float = field(init=False, default=0.0)
    _paused_until: float = field(init=False, default=0.0)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.rate_per_second > 0:
            raise ValueError(f"rate_per_second must be > 0, got {self.rate_per_second!r}")
        self.burst = self.burst or max(1.0, self.rate_per_second)
        self._tokens, self._stamp = self.burst, self.clock()

    def acquire(self) -> float:
        """Wait until one call may go out; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate_per_second)
                self._stamp = now
                delay = max(0.0, self._paused_until - now)
                if delay == 0.0 and self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                if delay == 0.0:
                    delay = (1 - self._tokens) / self.rate_per_second
            self.sleep(delay)
            waited += delay

    def throttled(self) -> None:
        """The service said slow down: no call goes out for a moment."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + THROTTLE_PAUSE_SECONDS)
            self._tokens = 0.0
