"""Fault scenarios against a deployed stack: each starts executions, injects one fault, waits for
every execution to end, and counts what the guarantees are about.

- lost: executions that did not reach the end state the scenario expects;
- duplicateJobs: external jobs started more than once for one execution (jobs table, by idempotency key);
- duplicateSends: jobs whose task token accepted more than one final callback (SendTaskSuccess/Failure),
  counted at the service by the local cloud's per-token counters (other targets: not counted, null).

Used by `callbackctl chaos` and by tests/e2e/test_faults.py, which asserts 0 lost and 0 duplicates.
`observe` reads what happened; `scenarios` makes it happen; `result` reports it.
"""

from callbackctl.chaos.result import ScenarioResult, format_table, results_json
from callbackctl.chaos.scenarios import SCENARIOS, Chaos, run_scenarios

__all__ = ["SCENARIOS", "Chaos", "ScenarioResult", "format_table", "results_json", "run_scenarios"]
