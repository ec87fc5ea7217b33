"""Error names an execution can end with, and the limits of the Step Functions APIs that carry them.

The state machine's Catch and Fail states (stacks/workflow.py) route these names; a test checks
that both sides agree (tests/infra/test_state_machine.py). The states themselves are named in
end_states.py.
"""

from __future__ import annotations

from typing import Final

INVALID_JOB_INPUT: Final = "InvalidJobInput"  # create_job: the execution input cannot be used
# create_job: a write of the job's records was throttled, met a server error or got no answer;
# the state machine retries the task
RECORD_WRITE_FAILED: Final = "RecordWriteFailed"
JOB_FAILED: Final = "JobFailed"  # poller: the job failed, is unknown to the API, or was cancelled there
MAX_ATTEMPTS_EXCEEDED: Final = "MaxAttemptsExceeded"  # poller: still running after its attempts
RESULT_TOO_LARGE: Final = "ResultTooLarge"  # poller: input + result would exceed the state size limit
# Sent by the poller with SendTaskFailure; the state machine routes them to its JobFailed state.
JOB_FAILURE_ERRORS: Final = (JOB_FAILED, MAX_ATTEMPTS_EXCEEDED, RESULT_TOO_LARGE)
# The state machine's own, from Fail states: Step Functions refuses to end an execution with an
# error named `States.*`, so a task timeout and other runtime errors end with these names.
JOB_TIMED_OUT: Final = "JobTimedOut"  # CreateJob timed out or missed a heartbeat
WORKFLOW_RUNTIME_ERROR: Final = "WorkflowRuntimeError"  # a States.* runtime error outside the job's control

# Error codes with which an AWS service (Step Functions, Lambda, DynamoDB) says "slow down": the
# poller backs off, create_job's task is retried.
THROTTLING_ERRORS: Final = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
    }
)

# SendTaskFailure: error up to 256 characters, cause up to 32,768 characters.
ERROR_LIMIT: Final = 256
CAUSE_LIMIT: Final = 32_768
# A state's input or output, and SendTaskSuccess output: 256 KiB of UTF-8 JSON.
STATE_SIZE_LIMIT_BYTES: Final = 262_144


def cut(text: str, limit: int) -> str:
    """text shortened to at most limit characters, marking the cut."""
    if len(text) <= limit:
        return text
    marker = "...[cut]"
    return text[: limit - len(marker)] + marker
