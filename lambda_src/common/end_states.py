"""The states an execution ends in: the ids of the state machines' Succeed and Fail states, which
the execution history reports as the last state entered (callbackctl's "end state").

The error each Fail state ends the execution with is in errors.py; this module names the states.
Tests check that the synthesized definitions' Succeed and Fail states are exactly these
(tests/infra/test_state_machine.py, tests/infra/test_polling_loop.py). Import the module
(`from common import end_states`): `end_states.JOB_FAILED` is a state, `errors.JOB_FAILED` an error.
"""

from __future__ import annotations

from typing import Final

# The callback workflow (stacks/workflow.py).
JOB_SUCCEEDED: Final = "JobSucceeded"  # Succeed: the job completed; output = input + jobResult
JOB_FAILED: Final = "JobFailed"  # Fail: re-raises a job failure the poller sent (errors.JOB_FAILURE_ERRORS)
TIMED_OUT: Final = "TimedOut"  # Fail: no callback or heartbeat in time; ends with errors.JOB_TIMED_OUT
ERROR: Final = "Error"  # Fail: re-raises anything else (errors.INVALID_JOB_INPUT, a create_job error)
RUNTIME_ERROR: Final = "RuntimeError"  # Fail: a States.* error; ends with errors.WORKFLOW_RUNTIME_ERROR
WORKFLOW_END_STATES: Final = (JOB_SUCCEEDED, JOB_FAILED, TIMED_OUT, ERROR, RUNTIME_ERROR)

# The benchmark's polling loop (stacks/polling_loop.py): its Fail states end with the error they are named after.
MAX_ATTEMPTS_EXCEEDED: Final = "MaxAttemptsExceeded"  # Fail: still running after max_attempts checks
POLLING_LOOP_END_STATES: Final = (JOB_SUCCEEDED, JOB_FAILED, MAX_ATTEMPTS_EXCEEDED)
