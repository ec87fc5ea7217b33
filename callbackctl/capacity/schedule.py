"""How often the poller checks one job: the poll schedule of common/schedule.py, averaged (pure).

A job's first poll comes one jittered `initial` wait after its start; each poll then backs the
interval off (`factor`, up to `cap`) and waits one jittered interval, but never past the time its
next heartbeat is owed (`heartbeat_refresh` after the last one). The jitter shortens a wait by up to
JITTER at random, so a wait is on average (1 - JITTER / 2) of its interval.

`polls_per_job` walks that schedule with average waits. The walk is bounded by the settings, never
by the job's duration: once the interval stops growing and a poll has just sent a heartbeat, the
schedule repeats with the refresh period (the polls at w, 2w, ... before the refresh, then one at the
refresh), so the rest of the duration is arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from common.schedule import JITTER, PollSchedule

MEAN_WAIT = 1 - JITTER / 2  # a wait is shortened by a uniform fraction of up to JITTER
MAX_STEPS = 100_000  # polls walked before the schedule repeats; more means a schedule too fine to model


@dataclass(frozen=True)
class PollCount:
    polls: int  # status checks of one job in (0, duration]
    heartbeats: int  # heartbeats it gets in that time (one per refresh)
    steady_interval: float  # average seconds between polls once the back-off is done


def _repeating(schedule: PollSchedule, wait: float, start: float, duration: float) -> tuple[int, float]:
    """Polls after `start` (a poll that just sent a heartbeat, interval at its cap) up to `duration`,
    and the average time between them."""
    refresh = schedule.heartbeat_refresh
    per_period = max(1, math.ceil(round(refresh / wait, 9)))  # w, 2w, ... < refresh, then refresh
    remaining = duration - start
    periods = math.floor(round(remaining / refresh, 9))
    rest = remaining - periods * refresh
    return periods * per_period + min(per_period - 1, math.floor(round(rest / wait, 9))), refresh / per_period


def polls_per_job(schedule: PollSchedule, duration: float) -> PollCount:
    """Average number of status checks one job of `duration` seconds gets (ValueError if the schedule
    backs off so slowly that it would take more than MAX_STEPS polls to reach its cap)."""
    if not duration > 0:
        raise ValueError(f"duration must be greater than 0, got {duration!r}")
    refresh = schedule.heartbeat_refresh
    interval, heartbeat = schedule.initial, 0.0
    t = MEAN_WAIT * interval  # create_job's first wait
    for polls in range(1, MAX_STEPS + 1):  # `polls` counts the poll at time t
        if t > duration:
            return PollCount(polls - 1, math.floor(duration / refresh), MEAN_WAIT * interval)
        owed = t - heartbeat >= refresh - 1e-9
        if owed:
            heartbeat = t
        interval = schedule.next_interval(interval)
        wait = MEAN_WAIT * interval
        if owed and schedule.next_interval(interval) == interval:
            more, steady = _repeating(schedule, wait, t, duration)
            return PollCount(polls + more, math.floor(duration / refresh), steady)
        t = min(t + wait, heartbeat + refresh)
    raise ValueError(
        f"the poll schedule backs off too slowly to model: more than {MAX_STEPS:,} polls before the "
        f"interval reaches its cap (initial {schedule.initial:g} s, factor {schedule.factor:g}, cap {schedule.cap:g} s)"
    )
