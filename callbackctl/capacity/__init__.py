"""Capacity model: does a number of concurrently waiting jobs fit a stage's settings and the AWS quotas?

``schedule`` averages one job's poll schedule (pure), ``model`` turns a stage's settings and a
workload into calls per second against each limit (pure), ``quotas`` reads the quotas and their
sources (``quotas.json``), ``monthly`` prices the workload with the cost model, ``report`` prints it,
``cli`` is the ``capacity`` command.
"""

from callbackctl.capacity.model import Capacity, Check, StageSettings, Status, Workload, capacity
from callbackctl.capacity.quotas import Quotas, load_quotas
from callbackctl.capacity.schedule import PollCount, polls_per_job

__all__ = [
    "Capacity",
    "Check",
    "PollCount",
    "Quotas",
    "StageSettings",
    "Status",
    "Workload",
    "capacity",
    "load_quotas",
    "polls_per_job",
]
