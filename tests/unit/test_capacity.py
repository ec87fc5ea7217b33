"""`callbackctl capacity`: the poll schedule averaged by hand, the model's arithmetic, the command."""

from __future__ import annotations

import json

import pytest

from callbackctl.capacity.model import StageSettings, Status, Workload, capacity, rates, shards_needed
from callbackctl.capacity.quotas import load_quotas
from callbackctl.capacity.schedule import MAX_STEPS, polls_per_job
from callbackctl.cli.app import main
from callbackctl.cost import Design, design_usage
from callbackctl.cost import Workload as CostWorkload
from common.schedule import PollSchedule

# The aws stage's schedule (stacks/config.py) as it was with a 600 s cap and a 200/s job API: 60 s,
# x1.5, up to 600 s; heartbeat timeout 30 min -> refresh min((1800 - 2 x 120) / 2, 1800 - 2 x 120 -
# 120) = 780 s. (The stage now caps at 900 s, so long jobs are checked once per refresh, and allows
# 500/s: see test_the_aws_stage_fits_100k_waiting_jobs_of_two_hours.)
AWS = PollSchedule(
    initial=60, min_initial=60, cap=600, factor=1.5, heartbeat_refresh=780, lag=120, task_timeout=28_800, shards=8
)
SETTINGS = StageSettings(
    stage="aws",
    schedule=AWS,
    schedule_interval=60,
    poller_timeout=60,
    poller_concurrency=8,
    poller_reserved_concurrency=10,
    send_task_rate=250,
    job_api_rate=200,
    max_attempts=40,
    task_timeout=28_800,
    schedule_rate_minutes=1,
)
QUOTAS = load_quotas("us-east-1")
ACCOUNT_QUOTAS = {
    "sendTaskAccount",
    "startExecution",
    "stateTransitions",
    "lambdaConcurrency",
    "schedulerInvocations",
    "ddbPartitionWrites",
    "ddbTableWrites",
}


def test_polls_follow_the_back_off_then_the_heartbeat_refresh() -> None:
    # Average waits are 0.95 of each interval: polls at 57, 142.5, 270.75, 463.125, 751.6875; the next
    # wait (455.6 x 0.95) would pass the heartbeat owed at 780, so the 6th poll is at 780. From then
    # the interval is capped (570 s waits): a poll at +570, then one at the refresh (+780): 2 per 780 s.
    # 2 h: 6 + floor(6420 / 780) = 8 periods x 2 = 16, and 180 s left (< 570): 22 polls, 9 heartbeats.
    assert polls_per_job(AWS, 780).polls == 6
    assert polls_per_job(AWS, 779).polls == 5
    count = polls_per_job(AWS, 7200)
    assert (count.polls, count.heartbeats, count.steady_interval) == (22, 9, 390)


def test_a_schedule_without_back_off_repeats_at_once() -> None:
    # factor 1, 100 s waits 95 s: 95, 190, then the refresh at 250; then per 250 s: +95, +190, +250.
    flat = PollSchedule(
        initial=100, min_initial=60, cap=100, factor=1, heartbeat_refresh=250, lag=120, task_timeout=9e9, shards=1
    )
    assert polls_per_job(flat, 1000).polls == 12
    assert polls_per_job(flat, 999).polls == 11


def test_the_walk_is_bounded_by_the_settings_not_the_duration() -> None:
    year = 365 * 86_400
    assert polls_per_job(AWS, year).polls == 6 + (year - 780) // 780 * 2 + 1  # 570 s into the last period
    slow = PollSchedule(
        initial=60, min_initial=60, cap=600, factor=1.00001, heartbeat_refresh=1e9, lag=0, task_timeout=9e9, shards=1
    )
    with pytest.raises(ValueError, match=f"more than {MAX_STEPS:,} polls"):
        polls_per_job(slow, year)
    with pytest.raises(ValueError, match="greater than 0"):
        polls_per_job(AWS, 0)


def test_rates_of_100k_waiting_jobs_of_two_hours() -> None:
    w = Workload(waiting=100_000, job_duration=7200)
    r = rates(SETTINGS, w)
    assert r.starts == pytest.approx(100_000 / 7200)  # 13.89/s, the steady state
    assert r.heartbeats == pytest.approx(100_000 / 780)  # 128.2/s
    assert r.status_checks == pytest.approx(100_000 * 22 / 7200)  # 305.6/s (Little's law)
    # a claim per poll (1 WCU) + put and two end transactions (1 + 2 x 2) per job
    assert r.table_writes == pytest.approx(305.5556 + 5 * 13.8889, rel=1e-4)
    # the claim moves dueAt, the index's sort key: 2 index writes; insert 1, lease 2, delete 1 per job
    assert r.index_writes == pytest.approx(2 * 305.5556 + 4 * 13.8889, rel=1e-4)
    assert r.due_per_run == pytest.approx(305.5556 / 8 * 60, rel=1e-4)  # 2,292 per shard per minute
    # partition: ceil(666.7 / 500) = 2; runs: 18,333 due a minute / (8 threads / 0.1 s x 45 s) = 5.1 -> 6
    assert shards_needed(SETTINGS, w, r) == 6


def test_100k_waiting_jobs_fit_every_aws_quota_on_the_aws_stage() -> None:
    c = capacity(SETTINGS, Workload(waiting=100_000, job_duration=7200), QUOTAS)
    checks = {check.key: check for check in c.checks}
    assert {k for k, check in checks.items() if check.status is Status.OK} >= ACCOUNT_QUOTAS
    assert checks["sendTaskAccount"].used == pytest.approx(128.205 + 13.889, rel=1e-4)
    assert checks["sendTaskAccount"].headroom == pytest.approx(500 / 142.094, rel=1e-4)
    assert checks["sendTaskShare"].status is Status.OK  # 142 of 250: 1.76x
    # poller reservation 10 + create_job 13.89 x 0.3 + job API (305.6 + 13.9) x 0.1
    assert checks["lambdaConcurrency"].used == pytest.approx(10 + 4.1667 + 31.944, rel=1e-4)
    assert checks["schedulerInvocations"].used == pytest.approx(8 / 60)
    assert checks["ddbPartitionWrites"].used == pytest.approx(666.667 / 8, rel=1e-4)
    # What does not fit is the stage's own job API limit (200/s), and with it one shard's run.
    assert {k for k, check in checks.items() if check.status is Status.FAIL} == {"statusChecks", "runThroughput"}
    assert checks["runThroughput"].limit == pytest.approx(200 / 8 * 45)  # the API share caps the run


def test_the_aws_stage_fits_100k_waiting_jobs_of_two_hours(capsys: pytest.CaptureFixture[str]) -> None:
    """The figure README shows: with the aws stage as configured, every check passes."""
    code, out, _ = run(capsys, "--stage", "aws", "--waiting", "100000", "--job-duration", "2h", "--json")
    data = json.loads(out)
    assert (code, data["status"]) == (0, "ok")
    assert data["perJob"]["statusChecks"] == 15  # 7 backing off, then one per 780 s heartbeat refresh
    checks = {check["key"]: check for check in data["checks"]}
    assert checks["statusChecks"]["used"] == pytest.approx(100_000 * 15 / 7200, rel=1e-3)  # 208/s of 500
    assert all(check["status"] == "ok" for check in data["checks"])


def test_the_cost_model_counts_one_small_write_per_poll() -> None:
    # 10 polls: token 3 WRU x (put + 2 x 2 in the two end transactions) = 15; poll state 1 x (put + 10
    # claims + 2 x 2) = 15; ByDue 1 + 2 x 10 + 2 + 1 = 24 -> 54 (before: 3 x 21 + 3 = 66).
    usage = design_usage(CostWorkload(polls_per_job=10), Design.CALLBACK)
    assert usage.per_job.ddb_wru == 54
    assert design_usage(CostWorkload(polls_per_job=1), Design.CALLBACK).per_job.ddb_wru == 15 + 6 + 6
    legacy = design_usage(CostWorkload(polls_per_job=10, poll_state_table=False), Design.CALLBACK)
    assert legacy.per_job.ddb_wru == 3 * 21 + 3
    assert usage.fixed_monthly.ddb_wru == 43_200 * 2  # each run's shard lease: take, give back
    # each heartbeat (default: every poll but the last) and the final decision read the token: 1 RRU
    assert usage.per_job.ddb_rru == pytest.approx(10 + legacy.per_job.ddb_rru)
    two = design_usage(CostWorkload(polls_per_job=10, heartbeats_per_job=2, shards=4), Design.CALLBACK)
    assert two.fixed_monthly.lambda_requests == 4 * 43_200
    assert two.per_job.ddb_rru < usage.per_job.ddb_rru


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["capacity", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_prints_json_and_exits_1_when_something_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--stage", "aws", "--waiting", "100000", "--job-duration", "2h", "-c", "pollMaxIntervalSeconds=600",
        "-c", "jobApiRatePerSecond=200", "--json",
    )  # fmt: skip
    data = json.loads(out)
    assert code == 1
    assert data["status"] == "fail"
    # A 600 s cap under the 780 s heartbeat refresh: checked twice per refresh, 306 checks/s > 200.
    assert data["perJob"] == {
        "statusChecks": 22,
        "heartbeats": 9,
        "steadyIntervalSeconds": 390.0,
        "heartbeatRefreshSeconds": 780.0,
    }
    assert data["shards"] == {"configured": 8, "needed": 6}
    send = next(c for c in data["checks"] if c["key"] == "sendTaskAccount")
    assert send["limit"] == 500 and isinstance(send["headroom"], float)
    assert send["source"].startswith("https://docs.aws.amazon.com/step-functions/")
    assert data["monthlyCostUsd"] > 0 and "dynamoDB" in data["monthlyCostByServiceUsd"]


def test_with_a_faster_job_api_100k_jobs_fit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--stage", "aws", "--waiting", "100,000", "--job-duration", "2h", "-c", "jobApiRatePerSecond=650"
    )
    assert code == 0
    assert "Result: ok" in out
    assert "Status checks (job API)" in out


def test_a_workload_that_does_not_fit_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--stage", "aws", "--waiting", "1000000", "--job-duration", "30m")
    assert code == 1
    assert "Result: FAIL" in out and "SendTask* (account)" in out.split("Result: FAIL")[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--waiting", "0", "--job-duration", "2h"], "must be at least 1"),
        (["--waiting", "10", "--job-duration", "soon"], "cannot parse duration"),
        (["--waiting", "10", "--job-duration", "400d"], "at most 365 days"),
        (["--waiting", "10", "--job-duration", "2h", "-c", "pollerShards"], "expected KEY=VALUE"),
        (["--waiting", "10", "--job-duration", "2h", "-c", "shardz=3"], "unknown setting 'shardz'"),
        (["--waiting", "10", "--job-duration", "2h", "-c", "pollerShards=0"], "poller_shards must be a positive"),
        (["--waiting", "10", "--job-duration", "2h", "--start-rate", "-1"], "greater than 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        code = main(["capacity", "--stage", "aws", *argv])
        raise SystemExit(code)
    _, err = capsys.readouterr()
    assert exited.value.code == 2
    assert message in err
    assert "Traceback" not in err
