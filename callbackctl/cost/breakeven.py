"""Break-even: from how many polls per job the callback is cheaper, at every count above it.

Trying every count is linear in the search range (a range of 10^8 took hours). For p >= 1 both
designs' monthly usage is affine in p except the poller's index queries (a step function: 0.5 RRU
per started 4 KB of keys a run returns), and each line item costs ``unit x max(0, usage - free)``.
So ``loop - callback`` has a lower bound that is piecewise linear, with a handful of kinks (free
tiers, the query step's bounds): where the bound is positive the callback is cheaper for sure.
The search finds the last count where the bound is not positive in closed form, then checks the
exact model downwards from there; that band is about (one query step) / (saving per poll) wide.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from callbackctl.cost.model import Design, SchedulerMode, Workload, design_usage, totals
from callbackctl.cost.prices import LINE_ITEMS, Architecture, Prices, default_prices
from callbackctl.cost.usage import check_int

MAX_POLLS_SEARCH = 10_000  # the default search range
MAX_POLLS_LIMIT = 1_000_000_000
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


@dataclass(frozen=True)
class _Term:
    """``sign x unit x max(0, usage(p) - free)``: one line item of one design, for p >= 1."""

    sign: float  # +1 loop, -1 callback
    unit: float
    free: float
    usage: Callable[[float], float]
    kinks: tuple[float, ...]

    def __call__(self, p: float) -> float:
        return self.sign * self.unit * max(0.0, self.usage(p) - self.free)


def _affine(a: float, b: float) -> Callable[[float], float]:
    return lambda p: a + b * p


def _query_bound(w: Workload, free: float) -> tuple[Callable[[float], float], tuple[float, ...]]:
    """An upper bound of the static schedule's monthly index-query RRU, 0.5 x runs x (max(1, c p) + 1),
    and its kinks (where c p = 1, and where it meets the free allowance)."""
    runs = w.scheduled_runs
    c = w.jobs_per_month * w.index_entry_kb / 4 / runs  # 4 KB blocks of keys per run, per poll
    kinks = (1 / c, (2 * free / runs - 1) / c) if c > 0 else ()
    return (lambda p: 0.5 * runs * (max(1.0, c * p) + 1)), kinks


def _terms(w: Workload, prices: Prices) -> list[_Term]:
    """The lower bound of loop - callback, term by term (exact except the callback's query step)."""
    terms = []
    arch = Architecture(w.architecture)
    for design, sign in ((Design.LOOP, 1.0), (Design.CALLBACK, -1.0)):
        u1 = design_usage(w.with_polls(1), design).monthly(w.jobs_per_month)
        u2 = design_usage(w.with_polls(2), design).monthly(w.jobs_per_month)
        for name, _service, _item in LINE_ITEMS:
            free = prices.free_allowance(name) if w.free_tier else 0.0
            a, b = 2 * getattr(u1, name) - getattr(u2, name), getattr(u2, name) - getattr(u1, name)
            usage: Callable[[float], float] = _affine(a, b)
            kinks: tuple[float, ...] = ((free - a) / b,) if b else ()
            if design == Design.CALLBACK and name == "ddb_rru" and w.scheduler == SchedulerMode.STATIC:
                usage, kinks = _query_bound(w, free)
            terms.append(_Term(sign, prices.unit_price(name, arch), free, usage, kinks))
    return terms


def _last_uncertain(terms: list[_Term], max_polls: int) -> int:
    """The largest p in 1..max_polls where the bound does not prove the callback cheaper (0: none)."""

    def bound(p: float) -> float:
        return sum(term(p) for term in terms)

    top = float(max_polls)
    margin = _EPS_USD + 1e-9 * sum(abs(term(top)) for term in terms)  # float rounding of the bound
    kinks = {k for term in terms for k in term.kinks if 1 < k < top and math.isfinite(k)}
    points = sorted({1.0, top, *kinks})
    if bound(top) <= margin:
        return max_polls
    for x0, x1 in reversed(list(itertools.pairwise(points))):
        v0, v1 = bound(x0), bound(x1)
        if v0 <= margin:  # linear on [x0, x1], above the margin at x1: it crosses in between
            root = x0 + (x1 - x0) * (margin - v0) / (v1 - v0)
            return min(math.floor(root) + 1, max_polls)  # + 1: a rounding error must not skip a count
    return 0


def find_break_even(workload: Workload, prices: Prices | None = None, max_polls: int = MAX_POLLS_SEARCH) -> BreakEven:
    """Smallest polls per job N such that the callback is strictly cheaper at every p in N..max_polls."""
    check_int("max_polls", max_polls, 0, MAX_POLLS_LIMIT)
    prices = prices or default_prices()
    p = _last_uncertain(_terms(workload, prices), max_polls) if max_polls >= 1 else 0
    while p >= 0:  # the exact model, downwards through the band the bound cannot decide
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
