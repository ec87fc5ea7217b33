"""The month's cost of a capacity workload, priced by the cost model (callbackctl/cost/)."""

from __future__ import annotations

from callbackctl.capacity.model import Capacity
from callbackctl.cost.model import MINUTES_PER_MONTH, Design, Workload, design_cost
from callbackctl.cost.prices import DesignCost, Prices


def cost_workload(c: Capacity) -> Workload:
    """The cost model's workload for this steady state: a month of starts at the start rate, each job
    polled and heartbeated as the schedule says, one poller run per shard per schedule firing."""
    return Workload(
        jobs_per_month=round(c.rates.starts * MINUTES_PER_MONTH * 60),
        polls_per_job=c.rates.polls.polls,
        heartbeats_per_job=float(c.rates.polls.heartbeats),
        shards=c.settings.schedule.shards,
        schedule_rate_minutes=c.settings.schedule_rate_minutes,
    )


def monthly_cost(c: Capacity, prices: Prices | None = None) -> DesignCost:
    return design_cost(cost_workload(c), Design.CALLBACK, prices)
