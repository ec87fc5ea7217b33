"""Cost model: arithmetic against hand-worked cases, break-even, measured path, CLI and plot.

Unit prices (prices.json, us-east-1, 2026-11), per single unit:
  transition 0.025/1000 = $0.000025        Lambda request 0.20/1M = $0.0000002
  GB-s x86_64 $0.0000166667, arm64 $0.0000133334
  scheduler invocation 1.00/1M = $0.000001
  WRU 0.625/1M = $0.000000625              RRU 0.125/1M = $0.000000125
Free tiers a month: 4,000 transitions, 1M Lambda requests, 400,000 GB-s, 14M invocations, none for DDB.

Default workload: 128 MB everywhere (0.125 GB); create_job 60 ms, API create 20 ms, API check 20 ms,
poller run 100 ms + 40 ms per job checked; token item 2.5 KB -> ceil = 3 WRU per write; KEYS_ONLY
index entry 0.1 KB -> 1 WRU per index write, index writes on; 3 transitions per callback execution;
loop 3 fixed + 3 per poll; static rate(1 minute) = 43,200 runs.

Callback DynamoDB per job with p polls: table put + p claims + (p - 1) releases after heartbeats +
finish = 2p + 1 writes; index: insert on the put + delete and insert on the status change = 3 writes.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from functools import partial

import pytest

from callbackctl import cost
from callbackctl.cli.app import main
from callbackctl.cli.options import parse_duration
from callbackctl.cost import (
    Architecture,
    Design,
    LambdaProfile,
    MeasuredUsage,
    SchedulerMode,
    Usage,
    Workload,
)

PRICES = cost.load_prices()
# The hand-worked figures below price the layout before the scale step (one token record rewritten
# by every claim and release; `_callback_writes` in cost/model.py); tests/unit/test_capacity.py
# pins the poll-state layout's write counts, which the default Workload now prices.
Legacy = partial(Workload, poll_state_table=False)
USD = 1e-9  # tolerance for dollar amounts


def by_item(design_cost: cost.DesignCost) -> dict[str, cost.CostLine]:
    return {line.item: line for line in design_cost.lines}


def run_cli(argv: list[str]) -> int:
    """The command as a user runs it: the exit code, whether argparse or the command refused the input."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


# ----------------------------------------------------------------------------- prices


def test_price_file_has_sources_date_region_and_free_tiers() -> None:
    data = json.loads(cost.PRICES_FILE.read_text(encoding="utf-8"))
    assert data["region"] == "us-east-1"
    assert data["as_of"] == "2026-11"
    for service in data["services"].values():
        assert service["source"].startswith("https://aws.amazon.com/")
        assert service["as_of"] == "2026-11"
        assert "free_tier" in service
    assert PRICES.transition == pytest.approx(0.000025)
    assert PRICES.lambda_request == pytest.approx(0.0000002)
    assert PRICES.lambda_gb_s_x86_64 == pytest.approx(0.0000166667)
    assert PRICES.lambda_gb_s_arm64 == pytest.approx(0.0000133334)
    assert PRICES.scheduler_invocation == pytest.approx(0.000001)
    assert PRICES.ddb_wru == pytest.approx(0.000000625)
    assert PRICES.ddb_rru == pytest.approx(0.000000125)
    assert (PRICES.free_transitions, PRICES.free_lambda_requests) == (4_000, 1_000_000)
    assert (PRICES.free_lambda_gb_s, PRICES.free_scheduler_invocations) == (400_000, 14_000_000)
    assert (PRICES.free_ddb_wru, PRICES.free_ddb_rru) == (0, 0)


def test_bad_price_file_is_reported(tmp_path) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text('{"region": "x", "as_of": "y", "services": {}}')
    with pytest.raises(ValueError, match="invalid price file"):
        cost.load_prices(bad)


# ----------------------------------------------------------------------------- hand-worked cases


def test_loop_100k_jobs_10_polls_no_free_tier() -> None:
    # transitions  = 100,000 * (3 fixed + 3 * 10 polls) = 3,300,000  * 0.000025     = $82.50
    # requests     = 100,000 * (1 create + 10 checks)    = 1,100,000  * 0.0000002    = $0.22
    # GB-s         = 100,000 * 0.125 GB * (0.020 + 10 * 0.020) s = 2,750 * 0.0000166667 = $0.0458334
    # total        = $82.7658334
    c = cost.design_cost(Legacy(), Design.LOOP, PRICES)
    lines = by_item(c)
    assert lines["state transitions"].usage == 3_300_000
    assert lines["state transitions"].cost_usd == pytest.approx(82.50, abs=USD)
    assert lines["requests"].usage == 1_100_000
    assert lines["requests"].cost_usd == pytest.approx(0.22, abs=USD)
    assert lines["GB-seconds"].usage == pytest.approx(2_750)
    assert lines["GB-seconds"].cost_usd == pytest.approx(2_750 * 0.0000166667, abs=USD)
    for item in ("invocations", "write request units", "read request units"):
        assert lines[item].usage == 0 and lines[item].cost_usd == 0
    assert c.total_usd == pytest.approx(82.50 + 0.22 + 0.045833425, abs=USD)


def test_callback_100k_jobs_10_polls_no_free_tier() -> None:
    # transitions  = 100,000 * 3                                  =   300,000 * 0.000025  = $7.50
    # requests     = 100,000 * (create_job + CREATE_JOB + 10 CHECK_STATUS) + 43,200 poller runs
    #              = 1,200,000 + 43,200 = 1,243,200 * 0.0000002                          = $0.24864
    # GB-s per job = 0.125 * (0.060 + 0.020 + 10 * (0.020 check + 0.040 poller share)) = 0.085
    #              -> 8,500 + 43,200 runs * 0.125 * 0.100 s = 540 -> 9,040 * 0.0000166667 = $0.15066697
    # scheduler    = 43,200 * 0.000001                                                   = $0.0432
    # WRU per job  = 3 WRU * (put + 10 claims + 9 releases + finish = 21) = 63, index 1 * (1 + 2) = 3
    #              = 66 * 100,000 = 6,600,000 * 0.000000625                              = $4.125
    # RRU          = a run returns 100,000 * 10 / 43,200 = 23.1 keys * 0.1 KB = 2.3 KB < 4 KB: the
    #                0.5 minimum, all fixed: 43,200 * 0.5 = 21,600 * 0.000000125          = $0.0027
    # total        = 7.50 + 0.24864 + 0.15066697 + 0.0432 + 4.125 + 0.0027 = $12.07020697
    c = cost.design_cost(Legacy(), Design.CALLBACK, PRICES)
    lines = by_item(c)
    assert lines["state transitions"].usage == 300_000
    assert lines["requests"].usage == 1_243_200
    assert lines["GB-seconds"].usage == pytest.approx(9_040)
    assert lines["invocations"].usage == 43_200
    assert lines["write request units"].usage == 6_600_000
    assert lines["read request units"].usage == pytest.approx(21_600)
    assert lines["state transitions"].cost_usd == pytest.approx(7.50, abs=USD)
    assert lines["requests"].cost_usd == pytest.approx(0.24864, abs=USD)
    assert lines["GB-seconds"].cost_usd == pytest.approx(9_040 * 0.0000166667, abs=USD)
    assert lines["invocations"].cost_usd == pytest.approx(0.0432, abs=USD)
    assert lines["write request units"].cost_usd == pytest.approx(4.125, abs=USD)
    assert lines["read request units"].cost_usd == pytest.approx(0.0027, abs=USD)
    assert c.total_usd == pytest.approx(12.07020697, abs=1e-7)
    assert c.by_service()["DynamoDB"] == pytest.approx(4.125 + 0.0027)


def test_saving_percentage() -> None:
    # (82.7658334 - 12.0702070) / 82.7658334 = 85.42%
    est = cost.estimate(Legacy(), PRICES, with_break_even=False)
    assert est.saving_usd == pytest.approx(82.7658334 - 12.0702070, abs=1e-6)
    assert est.saving_pct == pytest.approx((82.7658334 - 12.0702070) / 82.7658334 * 100, abs=1e-5)
    assert cost.saving_pct(1.0, 0.0) is None
    assert cost.saving_pct(3.0, 2.0) == pytest.approx(-50.0)


def test_free_tier_reduces_cost_by_hand() -> None:
    # loop:     (3,300,000 - 4,000) * 0.000025 = 82.40; (1,100,000 - 1M) * 0.0000002 = 0.02; 2,750 GB-s free
    #           -> $82.42
    # callback: (300,000 - 4,000) * 0.000025 = 7.40; (1,243,200 - 1M) * 0.0000002 = 0.04864; GB-s and
    #           scheduler free; DynamoDB has no free tier: 4.125 + 0.0027 -> $11.57634
    w = Legacy(free_tier=True)
    loop = cost.design_cost(w, Design.LOOP, PRICES)
    callback = cost.design_cost(w, Design.CALLBACK, PRICES)
    assert loop.total_usd == pytest.approx(82.42, abs=USD)
    assert callback.total_usd == pytest.approx(7.40 + 0.04864 + 4.125 + 0.0027, abs=USD)
    assert by_item(callback)["GB-seconds"].free == pytest.approx(9_040)
    assert by_item(callback)["invocations"].billable == 0
    paid = cost.estimate(Legacy(), PRICES, with_break_even=False)
    assert loop.total_usd < paid.loop.total_usd
    assert callback.total_usd < paid.callback.total_usd


def test_free_tier_is_subtracted_once_per_design_not_per_job() -> None:
    # 1,000 jobs, 1 poll: loop transitions 1,000 * 6 = 6,000 -> 2,000 billable after the 4,000 free = $0.05
    w = Legacy(jobs_per_month=1_000, polls_per_job=1, free_tier=True)
    loop = by_item(cost.design_cost(w, Design.LOOP, PRICES))
    assert loop["state transitions"].free == 4_000
    assert loop["state transitions"].cost_usd == pytest.approx(0.05, abs=USD)


def test_tiny_volume_with_free_tier_has_no_defined_saving() -> None:
    est = cost.estimate(Legacy(jobs_per_month=10, free_tier=True), PRICES, with_break_even=False)
    assert est.loop.total_usd == 0
    assert est.callback.total_usd > 0  # DynamoDB requests have no free tier
    assert est.saving_pct is None


def test_arm64_uses_its_gb_second_price() -> None:
    w = Legacy(architecture=Architecture.ARM64)
    gb_s = by_item(cost.design_cost(w, Design.LOOP, PRICES))["GB-seconds"]
    assert gb_s.cost_usd == pytest.approx(2_750 * 0.0000133334, abs=USD)


@pytest.mark.parametrize(("kb", "wru"), [(0.5, 1), (1.0, 1), (2.0, 2), (2.01, 3), (2.5, 3)])
def test_token_item_size_sets_write_units(kb: float, wru: int) -> None:
    # 4 polls: table put + 4 claims + 3 releases + finish = 9 writes at wru each; the KEYS_ONLY index
    # 3 writes (insert, then delete + insert on the status change) at 1 WRU whatever the token size
    w = Legacy(polls_per_job=4, token_item_kb=kb)
    assert cost.design_usage(w, Design.CALLBACK).per_job.ddb_wru == wru * 9 + 3
    without_gsi = cost.design_usage(replace(w, gsi_writes=False), Design.CALLBACK)
    assert without_gsi.per_job.ddb_wru == wru * 9


@pytest.mark.parametrize(("polls", "table", "index"), [(0, 1, 1), (1, 3, 3), (2, 5, 3), (10, 21, 3)])
def test_write_counts_per_job(polls: int, table: int, index: int) -> None:
    # 1 poll: put, claim, finish (no heartbeat, no release); 2 polls: + claim, release; p polls: 2p + 1.
    # The index is written on the put and twice on the status change, never by claims or releases.
    # No poll (the break-even search's p = 0): only the put and its index insert.
    w = Legacy(polls_per_job=polls, token_item_kb=1.0)
    assert cost.design_usage(w, Design.CALLBACK).per_job.ddb_wru == table + index
    assert cost.design_usage(replace(w, gsi_writes=False), Design.CALLBACK).per_job.ddb_wru == table


def test_large_index_entries_cost_more_per_index_write() -> None:
    # a 1.5 KB index entry (an unusually long jobId): 3 index writes * 2 WRU; table 3 * (2 * 2 + 1)
    w = Legacy(polls_per_job=2, index_entry_kb=1.5)
    assert cost.design_usage(w, Design.CALLBACK).per_job.ddb_wru == 3 * 5 + 2 * 3


def test_index_query_reads_above_the_minimum_scale_with_keys_per_run() -> None:
    # 100,000 jobs * 100 polls / 43,200 runs = 231.48 keys a run * 0.1 KB = 23.15 KB -> 6 * 4 KB
    # -> 3 RRU a run, of which the 0.5 minimum is fixed: (3 - 0.5) * 43,200 = 108,000 RRU a month
    # = 1.08 per job; monthly 108,000 + 21,600 fixed = 129,600
    m = cost.design_usage(Legacy(polls_per_job=100), Design.CALLBACK)
    assert m.per_job.ddb_rru == pytest.approx(1.08)
    assert m.fixed_monthly.ddb_rru == 21_600
    assert m.monthly(100_000).ddb_rru == pytest.approx(129_600)
    # 10 polls: 23.1 keys = 2.3 KB fit in the minimum; no jobs, no share
    assert cost.design_usage(Legacy(), Design.CALLBACK).per_job.ddb_rru == 0
    assert cost.design_usage(Legacy(jobs_per_month=0), Design.CALLBACK).per_job.ddb_rru == 0


def test_schedule_rate_divides_fixed_runs() -> None:
    # rate(5 minutes): 43,200 / 5 = 8,640 runs -> 8,640 scheduler invocations and poller requests
    fixed = cost.design_usage(Legacy(schedule_rate_minutes=5), Design.CALLBACK).fixed_monthly
    assert fixed.scheduler_invocations == 8_640
    assert fixed.lambda_requests == 8_640
    assert fixed.lambda_gb_s == pytest.approx(8_640 * 0.125 * 0.1)


def test_per_job_schedule_costs_one_invocation_per_poll() -> None:
    # 100,000 jobs * 10 polls = 1,000,000 invocations, no fixed monthly usage;
    # poller requests 1,000,000 + 1,200,000 others; GB-s per poll adds a whole run (100 ms + 40 ms)
    w = Legacy(scheduler=SchedulerMode.PER_JOB)
    m = cost.design_usage(w, Design.CALLBACK)
    assert m.fixed_monthly == Usage()
    monthly = m.monthly(w.jobs_per_month)
    assert monthly.scheduler_invocations == 1_000_000
    assert monthly.lambda_requests == 2_200_000
    assert monthly.lambda_gb_s == pytest.approx(100_000 * 0.125 * (0.08 + 10 * (0.02 + 0.04 + 0.1)))
    # one strongly consistent GetItem of the 2.5 KB record per poll: 1 RRU; no index query
    assert monthly.ddb_rru == pytest.approx(100_000 * 10 * 1)
    assert monthly.ddb_wru == pytest.approx(100_000 * (3 * 21 + 3))


# ----------------------------------------------------------------------------- break-even


def test_break_even_hand_worked_100_jobs() -> None:
    # loop - callback, per job and poll p (no free tier):
    #   + 3p transitions * 0.000025                       = 7.5e-5 p
    #   - one more request (create_job) * 0.0000002        = 2e-7
    #   - GB-s 0.125 * (0.060 + 0.040 p) * 0.0000166667    = 1.25e-7 + 8.33335e-8 p
    #   - WRU (3 * (2p + 1) + 3) * 0.000000625             = 3.75e-6 + 3.75e-6 p
    #   - RRU 0: a run returns 100 p / 43,200 keys, far below the 4 KB the fixed 0.5 RRU covers
    #   = 7.1166667e-5 p - 4.075e-6                        (for p >= 1)
    # callback fixed a month: 43,200 * (0.000001 + 0.0000002 + 0.0125 * 0.0000166667 + 0.5 * 0.000000125)
    #   = 0.0432 + 0.00864 + 0.00900002 + 0.0027 = 0.06354002
    # saving(p) = 100 * (7.1166667e-5 p - 4.075e-6) - 0.06354002 > 0  <=>  p > 0.06394752 / 0.0071166667 = 8.99
    w = Legacy(jobs_per_month=100)
    be = cost.find_break_even(w, PRICES)
    assert be.polls_per_job == 9
    assert be.message == "callback cheaper from 9 polls per job"
    per_poll = 7.5e-5 - 0.125 * 0.040 * 0.0000166667 - 6 * 0.000000625
    per_job = 2e-7 + 0.125 * 0.060 * 0.0000166667 + 6 * 0.000000625
    fixed = 43_200 * (0.000001 + 0.0000002 + 0.0125 * 0.0000166667 + 0.5 * 0.000000125)
    assert math.ceil((fixed + 100 * per_job) / (100 * per_poll)) == 9


def test_break_even_hand_worked_1000_jobs() -> None:
    # same per-job terms as for 100 jobs: 1,000 * (7.1166667e-5 p - 4.075e-6) > 0.06354002
    #   <=>  p > (0.06354002 + 0.004075) / 0.071166667 = 0.95  ->  from 1 poll
    # at p = 0 (only the put: 3 + 1 WRU) the callback costs its fixed part and more than the loop's 3 transitions
    be = cost.find_break_even(Legacy(jobs_per_month=1_000), PRICES, max_polls=100)
    assert be.polls_per_job == 1


@pytest.mark.parametrize(
    "workload",
    [
        Legacy(jobs_per_month=100),
        Legacy(jobs_per_month=100, free_tier=True),
        Legacy(jobs_per_month=1_000, schedule_rate_minutes=5),
        Legacy(jobs_per_month=20, poller=LambdaProfile(1024, 500.0)),
    ],
)
def test_break_even_is_where_the_costs_cross(workload: Workload) -> None:
    be = cost.find_break_even(workload, PRICES, max_polls=2_000)
    n = be.polls_per_job
    assert n is not None and n > 0
    at = cost.estimate(workload.with_polls(n), PRICES, with_break_even=False)
    before = cost.estimate(workload.with_polls(n - 1), PRICES, with_break_even=False)
    assert at.callback.total_usd < at.loop.total_usd
    assert before.callback.total_usd >= before.loop.total_usd
    assert (be.callback_usd, be.loop_usd) == (at.callback.total_usd, at.loop.total_usd)
    for p in (n, n + 1, 2 * n, 2_000):  # and stays cheaper
        e = cost.estimate(workload.with_polls(p), PRICES, with_break_even=False)
        assert e.callback.total_usd < e.loop.total_usd


def test_break_even_at_volume_is_one_poll() -> None:
    # 100,000 jobs: at p = 0 the callback pays its fixed part and more per job; p = 1 saves 100,000 * 6.7e-5
    be = cost.find_break_even(Legacy(), PRICES, max_polls=100)
    assert be.polls_per_job == 1
    assert be.message == "callback cheaper from 1 poll per job"
    assert be.callback_usd_before is not None and be.loop_usd_before is not None
    assert be.callback_usd_before > be.loop_usd_before


def test_break_even_never_when_the_loop_costs_nothing_per_poll() -> None:
    w = Legacy(jobs_per_month=1_000, loop_transitions_per_poll=0)
    be = cost.find_break_even(w, PRICES, max_polls=50)
    assert be.polls_per_job is None
    assert be.message.startswith("never within 0..50")


def brute_force_break_even(workload: Workload, max_polls: int) -> int | None:
    """The definition, one count at a time: the smallest N with the callback cheaper at every N..max."""
    found = None
    for p in range(max_polls, -1, -1):
        callback_usd, loop_usd = cost.totals(workload, p, PRICES)
        if not callback_usd < loop_usd - 1e-12:
            break
        found = p
    return found


@pytest.mark.parametrize(
    "workload",
    [
        Legacy(jobs_per_month=100),
        Legacy(jobs_per_month=0),
        Legacy(jobs_per_month=100, free_tier=True),
        Legacy(jobs_per_month=3_000, free_tier=True, architecture=Architecture.ARM64),
        Legacy(jobs_per_month=20, schedule_rate_minutes=5, poller=LambdaProfile(1024, 500.0)),
        Legacy(jobs_per_month=1_000_000, index_entry_kb=1.0),  # a query step every few polls
        Legacy(jobs_per_month=50_000, index_entry_kb=40.0, loop_transitions_per_poll=1),
        Legacy(jobs_per_month=100, scheduler=SchedulerMode.PER_JOB),
        Legacy(jobs_per_month=1_000, loop_transitions_per_poll=0),
    ],
)
def test_break_even_search_agrees_with_trying_every_count(workload: Workload) -> None:
    assert cost.find_break_even(workload, PRICES, max_polls=300).polls_per_job == brute_force_break_even(workload, 300)


def test_break_even_search_is_not_linear_in_its_range() -> None:
    started = time.perf_counter()
    be = cost.find_break_even(Legacy(jobs_per_month=100), PRICES, max_polls=1_000_000_000)
    assert be.polls_per_job == 9 and be.message == "callback cheaper from 9 polls per job"
    assert time.perf_counter() - started < 2  # a linear search took hours for this range


# ----------------------------------------------------------------------------- durations and validation


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1_800), ("2h", 7_200), ("1h30m", 5_400), ("1.5h", 5_400), ("1d", 86_400), ("45", 45)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "0s", "m30", "-5m", "1h-30m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("duration", "interval", "polls"),
    [(7_200, 1_800, 4), (90, 60, 2), (3_600, 60, 60), (30, 60, 1), (0.3, 0.1, 3), (3_601, 60, 61)],
)
def test_polls_from_duration_and_interval(duration: float, interval: float, polls: int) -> None:
    # polls = ceil(duration / interval): 2h / 30m = 4, 90 s / 1 min = 2 (1.5 rounded up), ...
    assert cost.polls_for_duration(duration, interval) == polls
    assert Workload.from_duration(duration, interval).polls_per_job == polls


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(ValueError, match="jobs_per_month"):
        Legacy(jobs_per_month=-1)
    with pytest.raises(ValueError, match="polls_per_job"):
        Legacy(polls_per_job=-3)
    with pytest.raises(ValueError, match="poll_interval"):
        cost.polls_for_duration(3_600, 0)
    with pytest.raises(ValueError, match="job_duration"):
        cost.polls_for_duration(-1, 60)
    with pytest.raises(ValueError, match="memory_mb"):
        LambdaProfile(64, 10)
    with pytest.raises(ValueError, match="schedule_rate_minutes"):
        Legacy(schedule_rate_minutes=0)
    with pytest.raises(ValueError, match="token_item_kb"):
        Legacy(token_item_kb=0)
    with pytest.raises(ValueError, match="index_entry_kb"):
        Legacy(index_entry_kb=0)
    with pytest.raises(ValueError, match="ddb_wru"):
        Usage(ddb_wru=-1)


# ----------------------------------------------------------------------------- measured path


def test_measured_usage_priced_like_the_formula() -> None:
    for w in (Legacy(), Legacy(free_tier=True, polls_per_job=3), Legacy(scheduler=SchedulerMode.PER_JOB)):
        formula = cost.estimate(w, PRICES, with_break_even=False)
        cb, lp = cost.design_usage(w, Design.CALLBACK), cost.design_usage(w, Design.LOOP)
        # the benchmark measures totals over N executions and gives them per job
        n = 7
        cb_measured = MeasuredUsage.from_totals(cb.per_job.scaled(n), n, cb.fixed_monthly)
        lp_measured = MeasuredUsage.from_dict(
            json.loads(json.dumps({"per_job": lp.per_job.__dict__, "fixed_monthly": lp.fixed_monthly.__dict__}))
        )
        measured = cost.estimate_measured(
            cb_measured,
            lp_measured,
            w.jobs_per_month,
            prices=PRICES,
            architecture=w.architecture,
            free_tier=w.free_tier,
        )
        assert measured.callback.total_usd == pytest.approx(formula.callback.total_usd, rel=1e-12)
        assert measured.loop.total_usd == pytest.approx(formula.loop.total_usd, rel=1e-12)
        assert measured.saving_pct == pytest.approx(formula.saving_pct, rel=1e-9)
        assert measured.break_even is None


def test_measured_usage_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        MeasuredUsage.from_dict({"per_job": {"transitions": 3, "lambda_invocations": 2}})


def test_measured_path_per_job_counts_by_hand() -> None:
    # measured per job: 5 transitions, 2 requests, 0.01 GB-s; 1,000 jobs -> 5,000 * 0.000025 = $0.125,
    # 2,000 * 0.0000002 = $0.0004, 10 GB-s * 0.0000166667 = $0.000166667
    m = MeasuredUsage(per_job=Usage(transitions=5, lambda_requests=2, lambda_gb_s=0.01))
    c = cost.price_measured(m, 1_000, prices=PRICES)
    assert c.total_usd == pytest.approx(0.125 + 0.0004 + 0.000166667, abs=USD)


# ----------------------------------------------------------------------------- command line


def test_cli_json_output_parses(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["cost", "--jobs-per-month", "100000", "--polls-per-job", "10", "--json", "--max-polls", "50"]) == 0
    data = json.loads(capsys.readouterr().out)
    # The hand-worked $12.07020697 of the single-record layout, with the poll-state writes instead:
    # WRU (54 per job x 100,000 + 43,200 runs x 2 shard-lease writes) = 5,486,400 x 0.000000625 = $3.429
    # instead of $4.125, and the token read by 9 heartbeats + the final decision: 1,000,000 RRU = $0.125.
    assert data["callback"]["totalUsd"] == pytest.approx(12.07020697 - 4.125 + 3.429 + 0.125, abs=1e-7)
    assert data["loop"]["totalUsd"] == pytest.approx(82.7658334, abs=1e-6)
    assert data["breakEven"]["pollsPerJob"] == 1
    assert data["workload"]["pollsPerJob"] == 10
    assert data["sources"]["stepFunctions"] == "https://aws.amazon.com/step-functions/pricing/"
    assert set(data["callback"]["byService"]) == {"Step Functions", "Lambda", "EventBridge Scheduler", "DynamoDB"}


def test_cli_duration_and_interval(capsys: pytest.CaptureFixture[str]) -> None:
    # 2h / 30m = 4 polls; the schedule follows the interval: rate(30 minutes) = 1,440 runs
    run_cli(["cost", "--job-duration", "2h", "--poll-interval", "30m", "--json", "--max-polls", "10"])
    w = json.loads(capsys.readouterr().out)["workload"]
    assert (w["pollsPerJob"], w["scheduleRateMinutes"]) == (4, 30)
    assert (
        cost.design_usage(Legacy(schedule_rate_minutes=30), Design.CALLBACK).fixed_monthly.scheduler_invocations
        == 1_440
    )


def test_cli_options_reach_the_workload(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "cost",
        "--memory",
        "256",
        "--memory",
        "poller=512",
        "--duration-ms",
        "poller_per_job=10",
        "--arch",
        "arm64",
        "--free-tier",
        "--schedule-rate-minutes",
        "2",
        "--index-entry-kb",
        "0.2",
        "--no-gsi-writes",
        "--json",
        "--max-polls",
        "5",
    ]
    run_cli(argv)
    w = json.loads(capsys.readouterr().out)["workload"]
    assert w["createJob"]["memoryMb"] == 256 and w["apiCheck"]["memoryMb"] == 256
    assert w["poller"]["memoryMb"] == 512
    assert w["pollerPerJobMs"] == 10
    assert (w["architecture"], w["freeTier"], w["scheduleRateMinutes"]) == ("arm64", True, 2)
    assert (w["indexEntryKb"], w["gsiWrites"]) == (0.2, False)


def test_cli_table(capsys: pytest.CaptureFixture[str]) -> None:
    run_cli(["cost", "--max-polls", "20"])
    out = capsys.readouterr().out
    assert "TOTAL / month" in out and "11.4992" in out and "82.7658" in out  # see test_cli_json_output_parses
    assert "Saving with callback: 86.1%" in out
    assert "Break-even: callback cheaper from 1 poll per job" in out


def test_cli_measured_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "measured.json"
    f.write_text(json.dumps({"callback": {"per_job": {"transitions": 3}}, "loop": {"per_job": {"transitions": 33}}}))
    run_cli(["cost", "--measured", str(f), "--jobs-per-month", "1000", "--json"])
    data = json.loads(capsys.readouterr().out)
    # 3,000 vs 33,000 transitions: $0.075 vs $0.825 -> saving 90.9%
    assert data["savingPct"] == pytest.approx(90.909090909, abs=1e-6)


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["cost", "--jobs-per-month", "-5"], "--jobs-per-month"),
        (["cost", "--jobs-per-month", "many"], "--jobs-per-month"),
        (["cost", "--job-duration", "2h", "--poll-interval", "0s"], "--poll-interval"),
        (["cost", "--job-duration", "soon"], "--job-duration"),
        (["cost", "--poll-interval", "5m"], "--poll-interval"),
        (["cost", "--polls-per-job", "3", "--job-duration", "1h"], "--job-duration"),
        (["cost", "--memory", "64"], "--memory"),
        (["cost", "--memory", "gpu=1024"], "--memory"),
        (["cost", "--duration-ms", "poller=-1"], "--duration-ms"),
        (["cost", "--schedule-rate-minutes", "0"], "--schedule-rate-minutes"),
        (["cost-plot", "--max-polls", "1"], "--max-polls"),
        (["cost-plot", "--max-polls", "10001"], "--max-polls"),
        (["cost", "--max-polls", "1000000001"], "--max-polls"),
        (["cost", "--measured", "no-such-file.json"], "--measured"),
        (["cost-plot", "--output", "plot.gif"], "--output"),
        (["cost-plot", "--output", "no-such-folder/plot.png"], "--output"),
    ],
)
def test_cli_bad_input_names_the_option(argv: list[str], option: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: callbackctl {argv[0]}") and option in err.splitlines()[-1]


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_cli_plot_writes_the_format_its_suffix_names(tmp_path, suffix: str, magic: bytes) -> None:
    out = tmp_path / f"cost{suffix}"
    assert run_cli(["cost-plot", "--jobs-per-month", "100", "--output", str(out), "--max-polls", "20"]) == 0
    assert out.read_bytes().startswith(magic)


def test_cli_plot_writes_png(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cost.png"
    assert run_cli(["cost-plot", "--jobs-per-month", "100", "--output", str(out), "--max-polls", "50"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    # 100 jobs a month: the fixed part decides, and each run's shard lease (2 writes) adds to it
    assert "callback cheaper from 17 polls per job" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line.strip()[:1].isdigit()}
    assert set(rows) == {"1", "2", "5", "10", "20", "50", "100"}
