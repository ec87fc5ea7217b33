"""callbackctl bench: measure the callback design against a polling loop on the local cloud.

One run (``make bench``):

1. Start the local cloud (unless it runs), deploy the callback stack and the baseline stack
   ``PollingLoopBaseline`` (``-c baseline=true``: Wait -> CheckStatus -> Choice on its own copy of
   the simulated API), with the scheduler clock sped up so ``rate(1 minute)`` fires every few seconds.
2. Idle: let the poller's schedule fire with nothing pending, to measure what a static schedule
   costs whatever the volume (one poller run, one scheduler invocation, one index query per run).
3. Cost: for each polls-per-job setting, run the same jobs through both designs at once and count
   from the execution histories (state transitions) and the local cloud's counters (Lambda
   invocations and billed milliseconds per function, scheduler firings, DynamoDB requests per
   table). The counts become :class:`cost.MeasuredUsage` and are priced by the cost model; the
   formula (:func:`cost.design_usage`) is computed alongside and every metric where the two disagree
   is printed.
4. Poller throughput: with the schedule disabled, put N pending jobs (N = 100 and 1,000) straight
   into the tables (fake task tokens: Step Functions answers InvalidToken and the poller marks
   each job EXPIRED, after the same claim, status check and send as a real job) and time one
   synchronous poller run. Then the same with 10,000 finished records in the task-token table.
5. Print a table and write every figure to ``bench-results/bench-<timestamp>.json`` and
   ``bench-results/latest.json``.

Rules used to turn what happened into billable units (also in the JSON under ``rules``):

- State transitions: one per state entered (each ``*StateEntered`` history event), one per task
  retry (a second ``TaskScheduled``/``LambdaFunctionScheduled`` within one state), and one for
  the execution's start, the convention of the cost model (``callback_transitions = 3``: start,
  CreateJob, Succeed).
- Lambda: requests = invocations the local cloud's executor ran; GB-s = memory / 1024 x billed ms
  / 1000 from the executor (the REPORT line's billed duration, on this machine, not on AWS).
- DynamoDB (task-token table only; the simulated API's Jobs table stands for the external system
  and is left out of both designs, as in the cost model): every PutItem/UpdateItem/DeleteItem
  request, conditional failures included, costs ceil(item KB) write units, with the item size
  measured from the records the run left behind (DynamoDB's size rules). The ``ByStatus`` index is
  KEYS_ONLY: one index write per new record, two when the status (the index key) changes, none
  for other updates. An index query costs 0.5 read units per 4 KB returned, at least 0.5.
- A static schedule's runs are a fixed monthly cost, not a per-job one: the poller's invocations,
  their idle billed time, the scheduler invocations and the minimum query cost are priced once a
  month (at the firing rate observed here, per minute of schedule time). Per job is what the jobs
  add on top: the "marginal" cost per 1,000 jobs. The "at volume" figure adds the fixed part
  spread over ``--jobs-per-month``.
"""

from __future__ import annotations
