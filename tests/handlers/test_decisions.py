"""The poller's decisions and reconciliation, and the Step Functions limits they respect: plain pytest, no AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.errors import CAUSE_LIMIT, ERROR_LIMIT, JOB_FAILURE_ERRORS, STATE_SIZE_LIMIT_BYTES, cut
from poller.decisions import REDRIVEN, RESULT_MEMBER_BYTES, Action, Decision, decide, failure, job_lost, reconcile


def test_completed_job_resumes_the_execution_with_its_result() -> None:
    decision = decide({"jobId": "j", "status": "COMPLETED", "result": {"answer": 42}}, attempt=2, max_attempts=10)
    assert decision.action is Action.SUCCEED
    assert decision.final_status == "COMPLETED"
    assert json.loads(decision.output or "") == {"answer": 42}


def test_failed_job_fails_the_execution_with_the_api_cause() -> None:
    decision = decide({"jobId": "j", "status": "FAILED", "error": "disk full"}, attempt=1, max_attempts=10)
    assert (decision.action, decision.error, decision.cause, decision.final_status) == (
        Action.FAIL,
        "JobFailed",
        "disk full",
        "FAILED",
    )


def test_running_job_below_the_limit_gets_a_heartbeat() -> None:
    decision = decide({"jobId": "j", "status": "IN_PROGRESS"}, attempt=9, max_attempts=10)
    assert decision.action is Action.HEARTBEAT and decision.final_status is None


def test_running_job_at_the_limit_exceeds_max_attempts() -> None:
    decision = decide({"jobId": "j", "status": "IN_PROGRESS"}, attempt=10, max_attempts=10)
    assert decision.action is Action.FAIL
    assert decision.error == "MaxAttemptsExceeded"
    assert decision.final_status == "MAX_ATTEMPTS"
    assert "after 10 poll attempts (limit 10)" in (decision.cause or "")


def test_completion_on_the_last_allowed_check_wins_over_the_limit() -> None:
    decision = decide({"jobId": "j", "status": "COMPLETED", "result": {}}, attempt=10, max_attempts=10)
    assert decision.action is Action.SUCCEED


@pytest.mark.parametrize(
    ("report", "cause"),
    [
        ({"jobId": "j", "status": "PAUSED"}, "job API reported unknown status 'PAUSED' for job j"),
        ({"jobId": "j"}, "job API reported unknown status None for job j"),
        ({"jobId": "j", "status": "CANCELLED", "error": "x"}, "job j was cancelled at the job API"),
        ({"jobId": "j", "status": "FAILED"}, "job j failed"),
    ],
)
def test_a_job_that_cannot_complete_fails_the_execution_with_job_failed(report: Any, cause: str) -> None:
    decision = decide(report, attempt=1, max_attempts=5)
    assert (decision.action, decision.error, decision.cause, decision.final_status) == (
        Action.FAIL,
        "JobFailed",
        cause,
        "FAILED",
    )


def test_a_lost_job_fails_the_execution_saying_the_api_does_not_know_it() -> None:
    decision = job_lost("j", "no job with id 'j'")
    assert (decision.action, decision.error, decision.final_status) == (Action.FAIL, "JobFailed", "FAILED")
    assert decision.cause == "job j unknown to the job API: no job with id 'j'"


# ResultTooLarge: the state output is the execution input plus `"jobResult": <result>`.


def _completed_with_output_of(size: int) -> dict[str, Any]:
    """A COMPLETED report whose result serialises to exactly size bytes (multi-byte characters
    included, so bytes and characters differ)."""
    result = {"blob": "é" * 10 + "x" * (size - len(b'{"blob":""}') - 20)}
    assert len(json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()) == size
    return {"jobId": "j", "status": "COMPLETED", "result": result}


def test_a_result_that_fits_alone_but_not_with_the_input_fails_with_result_too_large() -> None:
    report = _completed_with_output_of(200_000)
    assert decide(report, attempt=1, max_attempts=5, input_bytes=0).action is Action.SUCCEED  # type: ignore[arg-type]
    decision = decide(report, attempt=1, max_attempts=5, input_bytes=64 * 1024)  # type: ignore[arg-type]
    assert (decision.action, decision.error, decision.final_status) == (Action.FAIL, "ResultTooLarge", "FAILED")
    assert "(265,549 bytes) exceeds the 262,144-byte limit" in (decision.cause or "")


@pytest.mark.parametrize("input_bytes", [2, 1_000, 65_536])
def test_the_state_size_limit_is_pinned_at_262144_bytes_on_both_sides(input_bytes: int) -> None:
    assert STATE_SIZE_LIMIT_BYTES == 262_144
    assert len(b',"jobResult":') == RESULT_MEMBER_BYTES
    fitting = STATE_SIZE_LIMIT_BYTES - input_bytes - RESULT_MEMBER_BYTES
    at_limit = decide(_completed_with_output_of(fitting), attempt=1, max_attempts=5, input_bytes=input_bytes)  # type: ignore[arg-type]
    assert at_limit.action is Action.SUCCEED and len((at_limit.output or "").encode()) == fitting
    over = decide(_completed_with_output_of(fitting + 1), attempt=1, max_attempts=5, input_bytes=input_bytes)  # type: ignore[arg-type]
    assert over.action is Action.FAIL and over.error == "ResultTooLarge"
    assert "(262,145 bytes)" in (over.cause or "")


# The SendTaskFailure limits: error up to 256, cause up to 32,768 characters.


@pytest.mark.parametrize("limit", [ERROR_LIMIT, CAUSE_LIMIT])
def test_cut_keeps_text_up_to_the_limit_and_marks_a_cut(limit: int) -> None:
    assert cut("é" * limit, limit) == "é" * limit
    longer = cut("é" * (limit + 1), limit)
    assert len(longer) == limit and longer.endswith("...[cut]") and longer.startswith("é" * (limit - 8))


def test_the_limits_are_the_step_functions_api_limits() -> None:
    assert (ERROR_LIMIT, CAUSE_LIMIT) == (256, 32_768)


def test_a_failure_is_cut_to_the_send_task_failure_limits() -> None:
    decision = failure("FAILED", "E" * 1_000, "c" * 100_000)
    assert len(decision.error or "") == 256 and len(decision.cause or "") == 32_768
    long_api_error = decide({"jobId": "j", "status": "FAILED", "error": "d" * 40_000}, attempt=1, max_attempts=5)
    assert len(long_api_error.cause or "") == 32_768 and (long_api_error.cause or "").endswith("...[cut]")


@pytest.mark.parametrize(
    "decision",
    [
        Decision(action=Action.SUCCEED, final_status="COMPLETED", output='{"a":1}'),
        failure("MAX_ATTEMPTS", "MaxAttemptsExceeded", "still running"),
    ],
)
def test_a_stored_decision_is_sent_again_unchanged(decision: Decision) -> None:
    assert Decision.from_stored(decision.stored()) == decision


# Reconciliation: a refused token and the execution's real end.


@pytest.mark.parametrize(
    ("status", "error", "final_status", "cancel_job"),
    [
        ("RUNNING", None, None, False),
        ("SUCCEEDED", None, "COMPLETED", False),
        ("FAILED", "JobFailed", "FAILED", False),
        ("FAILED", "ResultTooLarge", "FAILED", False),
        ("FAILED", "MaxAttemptsExceeded", "MAX_ATTEMPTS", False),
        ("ABORTED", None, "CANCELLED", True),
        ("TIMED_OUT", None, "EXPIRED", True),
        ("FAILED", "JobTimedOut", "EXPIRED", True),
        ("FAILED", "InvalidJobInput", "EXPIRED", True),
        ("PENDING_REDRIVE", None, "EXPIRED", True),
        (REDRIVEN, None, "EXPIRED", True),  # redriven after the record's run: that run ended without us
        (None, None, "EXPIRED", True),
    ],
)
def test_reconcile_gives_the_record_the_executions_real_end(
    status: str | None, error: str | None, final_status: str | None, cancel_job: bool
) -> None:
    outcome = reconcile(status, error, "TaskTimedOut on HEARTBEAT")
    assert (outcome.final_status, outcome.cancel_job) == (final_status, cancel_job)
    assert outcome.detail.startswith(f"TaskTimedOut on HEARTBEAT; execution {status or 'not found'}")


def test_every_error_the_poller_sends_reconciles_without_cancelling() -> None:
    """An execution that failed with one of our own errors got our callback: its job is not cancelled."""
    for error in JOB_FAILURE_ERRORS:
        outcome = reconcile("FAILED", error, "found SENDING")
        assert outcome.final_status in ("FAILED", "MAX_ATTEMPTS") and outcome.cancel_job is False


def test_an_execution_ended_elsewhere_names_its_error_in_the_detail() -> None:
    assert reconcile("FAILED", "JobTimedOut", "x").detail == "x; execution FAILED (JobTimedOut)"


@pytest.mark.parametrize(
    "decision",
    [
        Decision(action=Action.HEARTBEAT, final_status="COMPLETED"),  # a heartbeat is never stored
        Decision(action=Action.SUCCEED),  # a final decision without the status it ends in
        Decision(action=Action.FAIL, error="JobFailed"),
    ],
)
def test_only_a_final_decision_with_its_status_is_stored(decision: Decision) -> None:
    with pytest.raises(AssertionError):
        decision.stored()


def test_without_an_input_size_the_result_alone_is_measured() -> None:
    fitting = STATE_SIZE_LIMIT_BYTES - RESULT_MEMBER_BYTES
    assert decide(_completed_with_output_of(fitting), attempt=1, max_attempts=5).action is Action.SUCCEED  # type: ignore[arg-type]
    assert decide(_completed_with_output_of(fitting + 1), attempt=1, max_attempts=5).action is Action.FAIL  # type: ignore[arg-type]


def test_a_report_without_a_job_id_is_named_with_a_question_mark() -> None:
    decision = decide({"status": "FAILED"}, attempt=1, max_attempts=5)  # type: ignore[typeddict-item]
    assert (decision.action, decision.cause) == (Action.FAIL, "job ? failed")
