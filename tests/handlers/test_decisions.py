"""The poller's decision after one status check: plain pytest, no AWS."""

from __future__ import annotations

import json

from poller.decisions import Action, decide, job_lost


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


def test_unknown_status_and_lost_job_end_the_execution() -> None:
    assert decide({"jobId": "j", "status": "PAUSED"}, attempt=1, max_attempts=5).error == "JobFailed"  # type: ignore[typeddict-item]
    assert "unknown to the job API" in (job_lost("j", "gone").cause or "")


def test_a_result_too_large_for_send_task_success_fails_the_job_instead() -> None:
    report = {"jobId": "j", "status": "COMPLETED", "result": {"blob": "x" * 300_000}}
    decision = decide(report, attempt=1, max_attempts=10)  # type: ignore[arg-type]
    assert decision.action is Action.FAIL and decision.error == "JobFailed"
    assert "exceeds the 262,144-byte limit" in (decision.cause or "")
