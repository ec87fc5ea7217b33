"""Monthly cost model: task-token callback versus a Wait -> Check -> Choice polling loop.

Two designs run the same external job (create it once, check its status ``polls_per_job`` times):

* **callback** (this project): the Standard state machine waits on ``.waitForTaskToken``
  (``callback_transitions`` transitions per job: start -> CreateJob -> Succeed).  ``create_job``
  stores the token in DynamoDB and calls the API (``CREATE_JOB``); a poller Lambda run by
  EventBridge Scheduler queries the ``ByStatus`` index, claims each pending job (one UpdateItem),
  calls ``CHECK_STATUS`` (one simulated_api invoke), then either sends a heartbeat and releases the
  claim (one UpdateItem) or, on the last poll, resumes the execution and writes the end status.
* **loop**: the state machine calls the API itself (``CREATE_JOB`` once, ``CHECK_STATUS`` each poll)
  and spends ``loop_transitions_per_poll`` (Wait, CheckStatus, Choice) per poll plus
  ``loop_fixed_transitions`` (start, CreateJob, Succeed).  No scheduler, no DynamoDB.

Pricing rules (list prices and sources in ``prices.json``):

* One function, :func:`prices.price_usage`, turns a month's usage into dollars.  The formula path
  (:func:`model.design_usage`) and the measured path (:class:`MeasuredUsage` from real executions) both
  end there.
* Free tiers are monthly and account-wide.  They are subtracted once from the month's total usage
  of *one design*: each design is priced as if it were the account's only workload (the two
  designs are alternatives, not both deployed).  If other workloads already use the free tier,
  price with ``free_tier=False``.
* DynamoDB on-demand (task-token table; the poller uses the low-level calls of ``poller/store.py``):
  a write costs ceil(item KB) WRUs (a task token is up to 2,048 characters, so the token record is
  ~2-3 KB: the token plus ~300 bytes); an UpdateItem is billed on the larger of the old and new
  item.  Per job with ``p`` polls the table takes 1 PutItem (create_job), p claim UpdateItems (they
  return ALL_NEW, so the poller never GetItems the record), p - 1 release UpdateItems (after each
  heartbeat) and 1 finish UpdateItem: ``2p + 1`` writes.  The ``ByStatus`` GSI is KEYS_ONLY
  (``status``, ``createdAt``; it never holds the token): it is written once when the record is
  created and twice (delete + insert) when ``status`` changes at the finish, 3 index writes of
  ceil(index entry KB) = 1 WRU per job; claims and releases do not touch it.  The poller's pending
  Query runs once per schedule firing and is eventually consistent: 0.5 RRU per 4 KB of keys a run
  returns, at least 0.5 RRU even when empty.  The minimum is a fixed monthly cost; what a run's
  keys cost above it is the jobs' share.
* A month is 30 days: a static ``rate(1 minute)`` schedule is 43,200 invocations whatever the volume.

Not modelled: Lambda duration price tiers above 6 billion GB-s, retries, CloudWatch Logs, X-Ray,
data transfer, DynamoDB storage/streams/TTL (TTL deletes are free), the Jobs table of the simulated
API (it stands for the external system and is the same in both designs).

Modules: ``usage`` (billable quantities), ``prices`` (list prices, usage -> dollars), ``model`` (the
workload and the formula), ``breakeven``, ``estimate`` (both designs side by side, the sweep),
``report`` (text), ``plot`` (matplotlib, imported only to plot), ``args`` and ``cli`` (the commands).
"""

from callbackctl.cost.breakeven import (
    MAX_POLLS_LIMIT,
    MAX_POLLS_SEARCH,
    BreakEven,
    find_break_even,
    saving_pct,
)
from callbackctl.cost.estimate import (
    ASSUMPTIONS,
    SELECTED_POLLS,
    Estimate,
    SweepPoint,
    estimate,
    estimate_measured,
    sweep,
)
from callbackctl.cost.model import (
    LAMBDA_MAX_MS,
    MINUTES_PER_MONTH,
    Design,
    LambdaProfile,
    SchedulerMode,
    Workload,
    design_cost,
    design_usage,
    polls_for_duration,
    totals,
)
from callbackctl.cost.prices import (
    LINE_ITEMS,
    PRICES_FILE,
    Architecture,
    CostLine,
    DesignCost,
    Prices,
    default_prices,
    load_prices,
    price_measured,
    price_usage,
)
from callbackctl.cost.report import (
    describe,
    format_estimate,
    format_sweep,
)
from callbackctl.cost.usage import (
    USAGE_FIELDS,
    MeasuredUsage,
    Usage,
    lambda_gb_s,
)

__all__ = [
    "ASSUMPTIONS",
    "LAMBDA_MAX_MS",
    "LINE_ITEMS",
    "MAX_POLLS_LIMIT",
    "MAX_POLLS_SEARCH",
    "MINUTES_PER_MONTH",
    "PRICES_FILE",
    "SELECTED_POLLS",
    "USAGE_FIELDS",
    "Architecture",
    "BreakEven",
    "CostLine",
    "Design",
    "DesignCost",
    "Estimate",
    "LambdaProfile",
    "MeasuredUsage",
    "Prices",
    "SchedulerMode",
    "SweepPoint",
    "Usage",
    "Workload",
    "default_prices",
    "describe",
    "design_cost",
    "design_usage",
    "estimate",
    "estimate_measured",
    "find_break_even",
    "format_estimate",
    "format_sweep",
    "lambda_gb_s",
    "load_prices",
    "polls_for_duration",
    "price_measured",
    "price_usage",
    "saving_pct",
    "sweep",
    "totals",
]
