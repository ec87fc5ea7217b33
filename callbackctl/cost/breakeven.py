"""Break-even: from how many polls per job the callback is cheaper, at every count above it."""

from __future__ import annotations

from dataclasses import dataclass

from callbackctl.cost.model import Workload, totals
from callbackctl.cost.prices import Prices, default_prices
from callbackctl.cost.usage import check_int

MAX_POLLS_SEARCH = 10_000  # the default search range
MAX_POLLS_LIMIT = 100_000  # the search tries every count: bounded
_EPS_USD = 1e-12


@dataclass(frozen=True)
class BreakEven:
    polls_per_job: int | None  # callback cheaper at this and every higher polls per job in range
    max_polls: int
    message: str
    callback_usd: float | None = None  # both designs at polls_per_job
    loop_usd: float | None = None
    callback_usd_before: float | None = None  # both designs at polls_per_job - 1
    loop_usd_before: float | None = None


def saving_pct(callback_usd: float, loop_usd: float) -> float | None:
    if loop_usd <= 0:
        return None
    return (loop_usd - callback_usd) / loop_usd * 100


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def find_break_even(workload: Workload, prices: Prices | None = None, max_polls: int = MAX_POLLS_SEARCH) -> BreakEven:
    """Smallest polls per job N such that the callback is strictly cheaper at every p in N..max_polls."""
    check_int("max_polls", max_polls, 0, MAX_POLLS_LIMIT)
    prices = prices or default_prices()
    p = max_polls
    while p >= 0:  # downwards from the top, to the first count where the callback is not cheaper
        callback_usd, loop_usd = totals(workload, p, prices)
        if not callback_usd < loop_usd - _EPS_USD:
            break
        p -= 1
    found = p + 1
    if found > max_polls:
        return BreakEven(None, max_polls, f"never within 0..{max_polls:,} polls per job (the loop is not dearer)")
    callback_usd, loop_usd = totals(workload, found, prices)
    if found == 0:
        return BreakEven(
            0, max_polls, f"callback cheaper at every 0..{max_polls:,} polls per job", callback_usd, loop_usd
        )
    before = totals(workload, found - 1, prices)
    message = f"callback cheaper from {plural(found, 'poll')} per job"
    return BreakEven(found, max_polls, message, callback_usd, loop_usd, before[0], before[1])
