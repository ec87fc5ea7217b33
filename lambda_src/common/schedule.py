"""When a pending job is polled and heartbeated: the one home of the poll schedule's arithmetic.

Used by create_job (a job's first interval, its shard, the attempts an execution may ask for), the
poller (the next poll time of a job it claimed, whether it owes a heartbeat) and the stack's stage
check (stacks/config.py imports this module), so the three cannot disagree.

All durations are real seconds. A job is polled after `initial` seconds, then after `initial x
factor`, `initial x factor^2`, ... up to `cap`; each wait is shortened by up to JITTER at random,
so jobs started together spread out, and the bounds below still hold. Independently of that, a
job never waits longer than `heartbeat_refresh` for its next poll when that poll owes a heartbeat.

The heartbeat bound (see docs/design.md, "Heartbeats"): a job's heartbeat is due `refresh` seconds
after its last one, and the poller reaches a due job within `lag` (one schedule interval plus one
run). A poller that crashed after claiming a job (which records the heartbeat it was about to
send) or after storing a decision (which holds the job for the `sending_lease`) delays it once
more, so the longest gap between two heartbeats is `max(2 x refresh, refresh + sending_lease) +
2 x lag`: `heartbeat_refresh()` picks the largest refresh for which that fits the heartbeat timeout.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass
from typing import Any, Final

JITTER: Final = 0.1  # a wait is shortened by up to 10%, never lengthened
MAX_ATTEMPTS_CAP: Final = 1000


def heartbeat_refresh(*, heartbeat_timeout: float, lag: float, sending_lease: float) -> float:
    """The longest a job may go without a heartbeat before a poll owes it one (<= 0: impossible)."""
    return min((heartbeat_timeout - 2 * lag) / 2, heartbeat_timeout - 2 * lag - sending_lease)


def shard_of(job_id: str, shards: int) -> str:
    """The shard a job is polled in: stable, evenly spread over `shards`."""
    return str(int(hashlib.sha256(job_id.encode()).hexdigest()[:8], 16) % shards)


@dataclass(frozen=True, kw_only=True)
class PollSchedule:
    """A stage's poll schedule, in real seconds. Passed to the functions as one JSON variable."""

    initial: float  # a job's first wait, unless its execution asks for another
    min_initial: float  # the shortest first wait an execution may ask for (one schedule interval)
    cap: float  # the longest wait between two polls of a job
    factor: float  # each wait is the previous one times this, up to cap
    heartbeat_refresh: float  # a poll owes a heartbeat once the last one is this old
    lag: float  # how late a due job may be reached: one schedule interval plus one poller run
    task_timeout: float  # the state machine's timeout for the waiting task
    shards: int
    clock_speed: float = 1.0  # the local cloud's scheduler may run faster than real time (stacks/config.py)

    @classmethod
    def from_json(cls, text: str) -> PollSchedule:
        fields: dict[str, Any] = json.loads(text)
        return cls(**fields)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def wait(self, interval: float, rng: random.Random | None = None) -> float:
        """How long to wait before the next poll, for a job whose current interval is `interval`."""
        return interval * (1 - JITTER * (rng or random).random())

    def first_wait(self, interval: float, rng: random.Random | None = None) -> float:
        """How long a new job waits for its first poll: one (jittered) interval, but never longer
        than `heartbeat_refresh`, as every later poll that owes a heartbeat (the job's heartbeat
        clock starts with the task, and the bound below counts every wait as at most the refresh)."""
        return min(self.wait(interval, rng), self.heartbeat_refresh)

    def next_interval(self, interval: float) -> float:
        """The interval after `interval` (backed off, capped)."""
        return min(self.cap, interval * self.factor)

    def polling_span(self, attempts: int, initial: float | None = None) -> float:
        """The longest time `attempts` polls of one job can take from its start, late runs included."""
        interval, total = initial or self.initial, 0.0
        for _ in range(attempts):
            total += min(interval, self.heartbeat_refresh)  # a poll never waits past a heartbeat it owes
            interval = self.next_interval(interval)
        return total + self.lag

    def attempts_limit(self, initial: float | None = None) -> int:
        """The most status checks that all happen before the task times out (0: not even one)."""
        attempts = 0
        while attempts < MAX_ATTEMPTS_CAP and self.polling_span(attempts + 1, initial) < self.task_timeout:
            attempts += 1
        return attempts

    def requested_initial(self, schedule_seconds: float) -> float:
        """An execution's `pollIntervalSeconds` (schedule seconds, as the stage settings) in real
        seconds; ValueError naming the allowed range if it is out of bounds."""
        low, high = self.min_initial * self.clock_speed, self.cap * self.clock_speed
        if not math.isfinite(schedule_seconds) or not low <= schedule_seconds <= high:
            raise ValueError(f"pollIntervalSeconds must be from {low:g} to {high:g}, got {schedule_seconds!r}")
        return schedule_seconds / self.clock_speed
