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
4. Scale (``bench/scale.py``), every shard schedule paused (``StackInfo.poller_schedules``): 1,000
   real waiting executions, due with a heartbeat owed; timed synchronous poller runs over them (the
   real path: Step Functions accepts every heartbeat); the raw floor (``bench/runs.py``: the same
   calls, 16 at a time, no poller logic); a not-due backlog brings the pending count to 10,000 (the
   run must read only the due jobs); the due jobs over 4 shards, one run per shard at once; then the
   jobs end at the API and a run sends every SendTaskSuccess. Counts come from the local cloud's
   request counters over each run's window: ByDue items read, writes per table, sends accepted.
5. Crowd: 2,000 executions started at once with the schedules running; none may time out.
6. Figures against their targets (``bench/figures.py``): print, ``bench-results/bench-<timestamp>.json``
   (and ``latest.json``) and ``bench-results/bench.png`` (throughput and cost).

Rules used to turn what happened into billable units (also in the JSON under ``rules``):

- State transitions: one per state entered (each ``*StateEntered`` history event), one per task
  retry (a second ``TaskScheduled``/``LambdaFunctionScheduled`` within one state), and one for
  the execution's start, the convention of the cost model (``callback_transitions = 3``: start,
  CreateJob, Succeed).
- Lambda: requests = invocations the local cloud's executor ran; GB-s = memory / 1024 x billed ms
  / 1000 from the executor (the REPORT line's billed duration, on this machine, not on AWS).
- DynamoDB (both job tables; the simulated API's Jobs table stands for the external system and is
  left out of both designs, as in the cost model): every PutItem/UpdateItem/DeleteItem request,
  conditional failures included, costs ceil(item KB) write units (token records sized from those the
  run left, a poll state from a claimed one); a TransactWriteItems writes one item of each table,
  billed double; the ``ByDue`` index takes 1 write per insert, 2 per moved ``dueAt`` (claims, the
  decision's lease), 1 per finish. A ByDue query costs 0.5 read units per 4 KB returned, at least
  0.5; a token GetItem 1 per 4 KB. The shard lease (2 writes per run) is a fixed cost.
- A static schedule's runs are a fixed monthly cost, not a per-job one: the poller's invocations,
  their idle billed time, the scheduler invocations and the minimum query cost are priced once a
  month (at the firing rate observed here, per minute of schedule time). Per job is what the jobs
  add on top: the "marginal" cost per 1,000 jobs. The "at volume" figure adds the fixed part
  spread over ``--jobs-per-month``.
"""

from __future__ import annotations
