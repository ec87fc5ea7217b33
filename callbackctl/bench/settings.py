"""What one bench run does: how many jobs, which polls-per-job settings, how many pending jobs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class BenchSettings:
    jobs: int = 10  # jobs per design per polls-per-job setting
    polls: tuple[int, ...] = (1, 3, 10)
    pending: tuple[int, ...] = (100, 1_000)
    finished: int = 10_000
    finished_pending: int = 100
    repeats: int = 5  # timed poller runs per size (median); one for the largest
    jobs_per_month: int = 100_000
    clock_speed: float = 30.0  # rate(1 minute) fires every 2 s
    # The local stage's 4 threads take ~45 s over 1,000 jobs here, close to the poller's 60 s timeout;
    # the bench deploys with 16 (None: the stage's setting).
    poller_concurrency: int | None = 16
    idle_seconds: float = 10.0
    tolerance_pct: float = 5.0

    def __post_init__(self) -> None:
        if self.jobs < 1 or not self.polls or min(self.polls) < 1 or max(self.polls) > 100:
            raise ValueError("jobs must be >= 1 and polls per job between 1 and 100")
        if not self.pending or min(self.pending) < 1 or self.finished < 0 or self.repeats < 1:
            raise ValueError("pending sizes must be >= 1, finished >= 0, repeats >= 1")


QUICK = BenchSettings(jobs=3, polls=(1, 3), pending=(100, 300), finished=2_000, repeats=1, idle_seconds=6.0)
