"""End-to-end: callbackctl commands and the README's main command (the demo) against the local cloud."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callbackctl.cli.app import main
from callbackctl.commands.demo import DEMO_PLAN, run_demo
from callbackctl.deployment import StackInfo, Target

from .conftest import CLOCK_SPEED, DEPLOY_CONTEXT, job_id_of, start, wait_for


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    try:
        data = json.loads(captured.out)
    except json.JSONDecodeError:
        data = None
    return code, data, captured.out + captured.err


def test_poll_an_unknown_job_id_says_so(stack: StackInfo, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, text = _run(capsys, "poll", "no-such-job")
    assert code == 2
    assert "no job 'no-such-job' in table" in text and "callbackctl monitor" in text


def test_poll_by_hand_moves_one_job_to_the_end(
    target: Target, stack: StackInfo, paused_schedule, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = start(target, stack, {"simulate": {"completionPolls": 2}})
    job_id = wait_for(lambda: job_id_of(target, arn), timeout=30, what="the token record")
    code, first, _ = _run(capsys, "poll", job_id, "--json")
    # Still running: polled (a heartbeat only if the last one is a refresh period old; the task just began).
    assert code == 0 and first["statusAfter"] == "POLLING" and first["summary"]["polled"] == 1
    code, second, _ = _run(capsys, "poll", job_id, "--json")
    assert (
        code == 0
        and second["statusAfter"] == "COMPLETED"
        and (second["attemptCount"], second["maxAttempts"]) == (2, 10)
    )
    code, _, again = _run(capsys, "poll", job_id)
    assert code == 0 and "COMPLETED -> COMPLETED" in again and "skipped 1" in again


def test_start_wait_and_monitor(stack: StackInfo, capsys: pytest.CaptureFixture[str]) -> None:
    code, results, _ = _run(capsys, "start", "--count", "3", "--wait", "--timeout", "120", "--json")
    assert code == 0
    assert [(r["status"], r["endState"]) for r in results] == [("SUCCEEDED", "JobSucceeded")] * 3
    assert all(r["output"]["jobResult"]["jobId"] for r in results)

    code, snap, _ = _run(capsys, "monitor", "--json")
    assert code == 0
    assert snap["taskTokens"]["byStatus"].get("COMPLETED", 0) >= 3
    assert snap["schedule"]["expression"] == "rate(1 minute)" and snap["schedule"]["state"] == "ENABLED"
    code, _, text = _run(capsys, "monitor")
    assert code == 0 and "Recent token records" in text and "Latest history" in text


def test_start_rejects_bad_input_before_calling_aws(stack: StackInfo, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, text = _run(capsys, "start", "--input", "{oops")
    assert code == 2 and "--input is not valid JSON" in text


def test_demo_runs_every_path_to_its_end_state(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's main command, on the already running local cloud (same deployment settings)."""
    code = run_demo(target, clock_speed=CLOCK_SPEED, timeout=180, deploy_context=DEPLOY_CONTEXT)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Summary: " in out and "Every execution ended as its scenario should" in out
    assert out.count("JobSucceeded") >= sum(1 for e in DEMO_PLAN if e.end_state == "JobSucceeded")


def test_cleanup_stops_executions_and_empties_tables(
    target: Target, stack: StackInfo, paused_schedule, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = start(target, stack, {"simulate": {"outcome": "NEVER_FINISH"}})
    wait_for(lambda: job_id_of(target, arn), timeout=30, what="the token record")
    code, result, _ = _run(capsys, "cleanup", "--json")
    assert code == 0 and result["endedWaitingExecutions"] >= 1 and result["deletedTokenRecords"] >= 1
    sfn = target.client("stepfunctions")
    done = wait_for(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d, timeout=15, what="the end"
    )
    assert (done["status"], done.get("error")) == ("FAILED", "Cleanup")  # ended through its own token
    assert target.client("dynamodb").scan(TableName=stack.task_tokens_table)["Count"] == 0


def test_chaos_reads_the_deployed_settings_and_reports_a_scenario(
    stack: StackInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    """`callbackctl chaos` as a user runs it: settings from the deployed functions, a JSON row per scenario."""
    code, rows, text = _run(capsys, "chaos", "--scenario", "malformed-input", "--json")
    assert code == 0, text
    [row] = rows
    assert row["scenario"] == "malformed-input" and row["passed"] is True
    assert row["executions"] == row["reached"] > 0 and row["lost"] == 0
