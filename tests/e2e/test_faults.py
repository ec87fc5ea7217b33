"""Fault injection on the local cloud: every execution reaches its expected end, no job is started
twice, no token accepts a second final callback (counted at the service, per token).

The scenarios live in callbackctl/chaos.py (also `callbackctl chaos` against any target); these
tests run them against the e2e stack and assert on the counts.
"""

from __future__ import annotations

import os

import pytest

from callbackctl.chaos import Chaos, ScenarioResult
from callbackctl.deployment import StackInfo, Target

from .conftest import CLOCK_SPEED, HEARTBEAT_SECONDS

# What `make test` starts at once (E2E_BURST overrides it). The issue asks for 500: `callbackctl
# chaos --burst 500` against the local stage as deployed ends 500 of 500 as expected in ~260-270 s on
# this 2-core machine (README "Guarantees"). This stack's timeouts are cut for speed (heartbeat
# 60 s, poller runs of 10 s): starting 500 at once keeps LocalStack's one process busy for about a
# minute, longer than the heartbeat timeout allows, so here the burst is 50.
BURST = int(os.environ.get("E2E_BURST", "50"))
KILLED_BATCH = int(os.environ.get("E2E_KILLED_BATCH", "50"))


@pytest.fixture
def chaos(target: Target, stack: StackInfo) -> Chaos:
    return Chaos(
        target=target,
        info=stack,
        heartbeat_seconds=HEARTBEAT_SECONDS,
        interval_seconds=60 / CLOCK_SPEED,
        progress=print,
    )


def _assert_clean(result: ScenarioResult) -> None:
    print(result)
    assert result.duplicateSends is not None, "the local cloud must count callbacks per token"
    assert (result.lost, result.duplicateJobs, result.duplicateSends) == (0, 0, 0), result.notes
    assert result.reached == result.expected == result.executions, result.notes


def test_burst_of_executions_started_at_once_all_end_as_expected(chaos: Chaos) -> None:
    _assert_clean(chaos.burst(BURST))


def test_api_outage_longer_than_the_heartbeat_timeout_loses_nothing(chaos: Chaos) -> None:
    result = chaos.api_outage(10)
    _assert_clean(result)
    assert "10/10 executions still waiting when the API came back" in result.notes


def test_a_poller_killed_mid_batch_leaves_nothing_stuck_and_sends_once(chaos: Chaos) -> None:
    result = chaos.poller_killed(KILLED_BATCH)
    _assert_clean(result)
    # The run invoked for it, and any scheduled run still in flight when the schedules were paused.
    [kill] = [note for note in result.notes if note.startswith("killed ")]
    assert int(kill.split()[1]) >= 1 and int(kill.rsplit("claimed ", 1)[1].split()[0]) >= 1, kill


def test_a_stopped_execution_is_aborted_and_its_record_and_job_cancelled(chaos: Chaos) -> None:
    result = chaos.stop_execution(5)
    _assert_clean(result)
    assert "jobs cancelled at the API 5/5" in result.notes


def test_create_job_timing_out_after_starting_the_job_is_retried_onto_the_same_job(chaos: Chaos) -> None:
    result = chaos.create_job_timeout()  # 5 s past create_job's timeout
    _assert_clean(result)
    assert not any(note.startswith("FAILED") for note in result.notes), result.notes


def test_every_malformed_input_ends_in_error_within_two_seconds(chaos: Chaos) -> None:
    result = chaos.malformed_input()
    _assert_clean(result)
