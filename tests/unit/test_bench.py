"""The benchmark's pure parts: transitions from histories, DynamoDB sizes, counts -> MeasuredUsage,
formula-vs-measurement report, pricing per 1,000 jobs, and the command line."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from callbackctl import cost
from callbackctl.bench.billing import (
    AWS_MAX_TOKEN_CHARS,
    LEASE_WRITES_PER_RUN,
    IdleRun,
    LambdaCount,
    PollStateCounts,
    TokenTableCounts,
    Transitions,
    count_transitions,
    item_bytes,
    lambda_count,
    query_read_units,
    request_count,
    write_units,
)
from callbackctl.bench.cli import register as register_bench
from callbackctl.bench.cli import run as run_bench_command
from callbackctl.bench.figures import (
    aws_token_workload,
    cost_figure,
    cost_reach,
    cost_rows,
    duration_figure,
    end_state_figure,
    figures_dict,
    floor_usage,
    scale_figures,
)
from callbackctl.bench.measured import (
    calibrated_workload,
    callback_measured,
    compare,
    cost_figures,
    gb_s_share_pct,
    loop_measured,
    measured_dict,
    price_phase,
)
from callbackctl.bench.report import format_report
from callbackctl.bench.run import refuse_busy
from callbackctl.bench.runs import writes_per_poll
from callbackctl.bench.seed import NOT_DUE_MS, backlog, finishing, made_due
from callbackctl.bench.settings import QUICK, BenchSettings
from callbackctl.cli.output import jsonable
from callbackctl.cost import Design, MeasuredUsage, Usage
from callbackctl.errors import CommandFailed
from common.records import epoch_ms

from .conftest import MotoStepFunctions


def events(*kinds: str) -> list[dict[str, Any]]:
    return [{"id": i + 1, "type": kind} for i, kind in enumerate(kinds)]


# A loop execution with 2 polls, as Step Functions records it.
LOOP_TWO_POLLS = events(
    "ExecutionStarted",
    "TaskStateEntered",  # CreateJob
    "TaskScheduled",
    "TaskStarted",
    "TaskSucceeded",
    "TaskStateExited",
    *(
        "WaitStateEntered",
        "WaitStateExited",
        "TaskStateEntered",  # CheckStatus
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "ChoiceStateEntered",
        "ChoiceStateExited",
    )
    * 2,
    "SucceedStateEntered",
    "SucceedStateExited",
    "ExecutionSucceeded",
)

# A callback execution: CreateJob waits on its token (heartbeats add no events that cost).
CALLBACK = events(
    "ExecutionStarted",
    "TaskStateEntered",
    "TaskScheduled",
    "TaskStarted",
    "TaskSubmitted",
    "TaskSucceeded",
    "TaskStateExited",
    "SucceedStateEntered",
    "SucceedStateExited",
    "ExecutionSucceeded",
)


def test_loop_history_costs_three_transitions_per_poll_plus_three() -> None:
    t = count_transitions(LOOP_TWO_POLLS)
    assert t == Transitions(states_entered=8, retries=0, starts=1)
    assert t.total == 3 + 3 * 2  # the cost model's loop_fixed_transitions + loop_transitions_per_poll x polls


def test_callback_history_costs_three_transitions_whatever_the_polls() -> None:
    assert count_transitions(CALLBACK).total == 3


def test_a_task_retry_is_a_transition() -> None:
    retried = events(
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskFailed",
        "TaskScheduled",  # Retry: same state, scheduled again
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "SucceedStateEntered",
        "ExecutionSucceeded",
    )
    assert count_transitions(retried) == Transitions(states_entered=2, retries=1, starts=1)


def test_transitions_add_up_over_executions() -> None:
    total = count_transitions(CALLBACK) + count_transitions(LOOP_TWO_POLLS)
    assert total.total == 3 + 9


def test_item_size_follows_dynamodb_rules() -> None:
    item = {
        "jobId": {"S": "abc"},  # 5 + 3
        "n": {"N": "12345"},  # 1 + (3 + 1): 5 digits -> 3 bytes, + 1
        "ok": {"BOOL": True},  # 2 + 1
        "m": {"M": {"k": {"S": "v"}}},  # 1 + 3 + (1 + 1 + 1)
        "l": {"L": [{"N": "1"}, {"S": "xy"}]},  # 1 + 3 + (2 + 1) + (2 + 1)
        "b": {"B": b"\x00\x01"},  # 1 + 2
    }
    assert item_bytes(item) == 8 + 5 + 3 + 7 + 10 + 3


def test_a_token_record_with_an_aws_sized_token_takes_three_write_units() -> None:
    record = {
        "jobId": {"S": "0" * 36},
        "taskToken": {"S": "t" * AWS_MAX_TOKEN_CHARS},
        "executionArn": {"S": "a" * 120},
        "status": {"S": "POLLING"},
        "createdAt": {"S": "2026-11-26T17:00:00.000000Z"},
    }
    assert write_units(item_bytes(record)) == 3
    assert write_units(item_bytes({**record, "taskToken": {"S": "t" * 36}})) == 1


def test_query_read_units_have_a_minimum_per_query() -> None:
    assert query_read_units(queries=4, items=0, item_size=100) == 2.0
    assert query_read_units(queries=1, items=100, item_size=100) == 0.5 * 3  # 10,000 bytes = 3 x 4 KB


SNAPSHOT = {
    "requests": [
        {
            "service": "dynamodb",
            "operation": "PutItem",
            "resource": "Tokens",
            "internal": False,
            "count": 2,
            "errors": 0,
        },
        {
            "service": "dynamodb",
            "operation": "UpdateItem",
            "resource": "Tokens",
            "internal": False,
            "count": 7,
            "errors": 1,
        },
        {
            "service": "dynamodb",
            "operation": "UpdateItem",
            "resource": "Jobs",
            "internal": False,
            "count": 5,
            "errors": 0,
        },
        {
            "service": "dynamodb",
            "operation": "Query",
            "resource": "Tokens",
            "internal": False,
            "count": 3,
            "errors": 0,
            "items": 6,
            "scanned": 6,
        },
        {"service": "lambda", "operation": "Invoke", "resource": "api", "internal": True, "count": 4, "errors": 0},
    ],
    "lambda": {"api": {"invocations": 4, "errors": 0, "billedMs": 200, "memoryMb": 128}},
}


def test_counts_are_read_per_table_operation_and_field() -> None:
    assert request_count(SNAPSHOT, "dynamodb", "UpdateItem", "Tokens") == 7
    assert request_count(SNAPSHOT, "dynamodb", "UpdateItem") == 12
    assert request_count(SNAPSHOT, "dynamodb", ("PutItem", "UpdateItem"), "Tokens") == 9
    assert request_count(SNAPSHOT, "dynamodb", "UpdateItem", "Tokens", key="errors") == 1
    assert request_count(SNAPSHOT, "dynamodb", "Query", "Tokens", key="items") == 6
    assert request_count(SNAPSHOT, "lambda", "Invoke", internal=False) == 0


def test_lambda_counts_give_gb_seconds() -> None:
    api = lambda_count(SNAPSHOT, "api")
    assert api == LambdaCount(invocations=4, errors=0, billed_ms=200, memory_mb=128)
    assert api.gb_s == pytest.approx(0.125 * 0.2)
    assert api.avg_ms == 50
    assert lambda_count(SNAPSHOT, "missing") == LambdaCount()


def test_loop_counts_become_per_job_usage() -> None:
    measured = loop_measured(
        jobs=2, transitions=Transitions(16, 0, 2), api=LambdaCount(invocations=6, billed_ms=600, memory_mb=128)
    )
    assert measured.per_job == Usage(transitions=9, lambda_requests=3, lambda_gb_s=0.125 * 0.3)
    assert measured.fixed_monthly == Usage()


IDLE = IdleRun(poller_gb_s=0.25 * 0.01, poller_ms=10.0)  # a 256 MB poller, 10 ms per empty run
TABLE = TokenTableCounts(
    puts=2, updates=10, deletes=0, queries=4, query_items=8, finals=2, record_bytes=400, index_entry_bytes=90
)


def callback(**overrides: Any) -> MeasuredUsage:
    kwargs: dict[str, Any] = {
        "jobs": 2,
        "transitions": Transitions(4, 0, 2),
        "create_job": LambdaCount(invocations=2, billed_ms=100, memory_mb=128),
        "api": LambdaCount(invocations=8, billed_ms=400, memory_mb=128),
        "poller": LambdaCount(invocations=4, billed_ms=240, memory_mb=256),
        "table": TABLE,
        "idle": IDLE,
        "runs_per_month": 43_200,
    }
    return callback_measured(**{**kwargs, **overrides})


def test_callback_counts_split_into_per_job_and_fixed_monthly() -> None:
    m = callback()
    assert m.per_job.transitions == 3
    assert m.per_job.lambda_requests == 5  # create_job + CREATE_JOB + 3 checks; the poller runs are fixed
    # poller: 240 ms billed over 4 runs, of which 4 x 10 ms is what the runs cost anyway
    poller_extra = cost.lambda_gb_s(256, 240 - 4 * 10)
    assert m.per_job.lambda_gb_s == pytest.approx((0.125 * 0.1 + 0.125 * 0.4 + poller_extra) / 2)
    assert m.per_job.scheduler_invocations == 0
    # 12 table writes at 1 WRU (400 bytes) + index: 2 puts + 2 status changes x 2
    assert m.per_job.ddb_wru == (12 + 2 + 4) / 2
    assert m.per_job.ddb_rru == 0  # four small queries cost the minimum each: all fixed
    assert m.fixed_monthly == Usage(
        lambda_requests=43_200, lambda_gb_s=43_200 * IDLE.poller_gb_s, scheduler_invocations=43_200, ddb_rru=21_600
    )


def test_an_aws_sized_token_triples_the_table_writes() -> None:
    m = callback(extra_token_bytes=AWS_MAX_TOKEN_CHARS - 36)
    assert m.per_job.ddb_wru == (12 * 3 + 2 + 4) / 2


def test_formula_and_measurement_agree_when_the_counts_match() -> None:
    workload = cost.Workload(polls_per_job=3, gsi_writes=False, token_item_kb=0.4)
    formula = cost.design_usage(workload, Design.LOOP)
    assert compare("loop", formula, formula) == []


def test_disagreements_name_the_metric_and_the_percentage() -> None:
    formula = MeasuredUsage(per_job=Usage(transitions=12, ddb_wru=10, ddb_rru=0))
    measured = MeasuredUsage(per_job=Usage(transitions=12, ddb_wru=9, ddb_rru=0.5))
    found = {d.metric: d for d in compare("callback", formula, measured, tolerance_pct=5)}
    assert set(found) == {"ddb_wru", "ddb_rru"}
    assert found["ddb_wru"].pct == pytest.approx(-10)
    assert found["ddb_rru"].pct is None  # the formula says 0
    assert "formula 10" in found["ddb_wru"].describe()
    assert compare("callback", formula, measured, tolerance_pct=15)[0].metric == "ddb_rru"


def test_calibrated_formula_matches_the_measured_callback_counts() -> None:
    """What the benchmark reports: the formula's transitions, requests and writes match a callback run
    with p polls in the poll-state layout: the token record put once and written by the two end
    transactions (billed double), the poll state put, claimed once per poll and ended by the same
    two transactions; ByDue: an insert, 2 per claim, 2 for the decision, 1 for the finish. The runs'
    shard leases are left to the fixed part."""
    polls, jobs, runs = 3, 2, 5
    measured = callback(
        table=TokenTableCounts(
            puts=jobs,
            updates=0,
            deletes=0,
            queries=0,
            query_items=0,
            finals=jobs,
            record_bytes=400,
            index_entry_bytes=90,
            transactions=2 * jobs,
            indexed=False,
        ),
        poll=PollStateCounts(
            puts=jobs,
            updates=jobs * polls + LEASE_WRITES_PER_RUN * runs,
            deletes=0,
            transactions=2 * jobs,
            lease_writes=LEASE_WRITES_PER_RUN * runs,
            state_bytes=200,
            index_entry_bytes=90,
        ),
        api=LambdaCount(invocations=jobs * (1 + polls), billed_ms=400, memory_mb=128),
    )
    workload = calibrated_workload(
        polls=polls,
        jobs_per_month=1000,
        create_job=LambdaCount(invocations=2, billed_ms=100, memory_mb=128),
        api=LambdaCount(invocations=8, billed_ms=400, memory_mb=128),
        poller_memory_mb=256,
        idle=IDLE,
        poller_per_job_ms=0,
        record_bytes=400,
        poll_state_bytes=200,
    )
    formula = cost.design_usage(workload, Design.CALLBACK)
    metrics = {d.metric for d in compare("callback", formula, measured) if d.part == "per_job"}
    assert "transitions" not in metrics
    assert "lambda_requests" not in metrics
    assert "ddb_wru" not in metrics
    token, state, index = 1 + 2 * 2, 1 + polls + 2 * 2, 1 + 2 * polls + 2 + 1
    assert measured.per_job.ddb_wru == formula.per_job.ddb_wru == token + state + index


def test_an_idle_run_prices_its_shard_lease_as_fixed_writes() -> None:
    idle = IdleRun(poller_gb_s=0.001, poller_ms=10.0, write_units=2.0)
    assert idle.monthly(43_200).ddb_wru == 86_400


def test_cost_figures_price_per_thousand_jobs_with_the_cost_model() -> None:
    loop = loop_measured(jobs=1, transitions=Transitions(5, 0, 1), api=LambdaCount(2, 0, 0, 128))
    cb = callback()
    figures = cost_figures(cb, loop, jobs_per_month=100_000)
    prices = cost.default_prices()
    assert figures.loop_marginal == pytest.approx(6 * 1000 * prices.transition + 2 * 1000 * prices.lambda_request)
    assert figures.callback_marginal == pytest.approx(cost.price_usage(cb.per_job.scaled(1000)).total_usd)
    fixed = cost.price_usage(cb.fixed_monthly).total_usd
    assert figures.callback_at_volume == pytest.approx(figures.callback_marginal + fixed / 100)
    assert figures.ratio_marginal == pytest.approx(figures.callback_marginal / figures.loop_marginal)
    assert figures.to_dict()["ratio_at_volume"] == figures.ratio_at_volume


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="callbackctl")
    register_bench(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["bench", *argv])


def test_bench_command_options() -> None:
    args = parse("--quick", "--polls", "1,5", "--pending", "10", "--backlog", "100", "--crowd", "0", "--port", "4577")
    assert args.quick and args.polls == (1, 5) and args.pending == 10 and args.port == 4577
    assert (args.backlog, args.crowd) == (100, 0)
    assert args.func is run_bench_command


def test_bench_command_rejects_bad_polls(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--polls", "0,x")
    assert "--polls" in capsys.readouterr().err


def test_settings_refuse_impossible_runs() -> None:
    with pytest.raises(ValueError, match="polls per job"):
        BenchSettings(polls=(0,))
    assert QUICK.jobs < BenchSettings().jobs


def test_gb_seconds_share_of_the_marginal_cost() -> None:
    prices = cost.default_prices()
    only_duration = MeasuredUsage(per_job=Usage(lambda_gb_s=1.0))
    assert gb_s_share_pct(only_duration) == pytest.approx(100)
    half = MeasuredUsage(per_job=Usage(lambda_gb_s=1.0, transitions=prices.lambda_gb_s_x86_64 / prices.transition))
    assert gb_s_share_pct(half) == pytest.approx(50)
    assert gb_s_share_pct(MeasuredUsage(per_job=Usage())) == 0


def _phase(polls: int) -> dict[str, Any]:
    loop = loop_measured(
        jobs=2, transitions=Transitions(2 * (2 + 3 * polls), 0, 2), api=LambdaCount(2 * (1 + polls), 0, 100, 128)
    )
    cb = callback()
    figures = cost_figures(cb, loop, 100_000)
    disagreements = compare("callback", MeasuredUsage(per_job=Usage(ddb_wru=7)), cb)
    return {
        "pollsPerJob": polls,
        "jobs": 2,
        "loop": {"measured": measured_dict(loop)},
        "callback": {
            "measured": measured_dict(cb),
            "taskTokenTable": {**asdict(TABLE), "tokenChars": 36},
            "pollStateTable": {"claims": 2 * polls, "leaseWrites": 4},
        },
        "cost": figures.to_dict(),
        "costWithAwsSizedToken": figures.to_dict(),
        "gbSecondsSharePct": {"callback": gb_s_share_pct(cb), "loop": gb_s_share_pct(loop)},
        "disagreements": [{**asdict(d), "pct": d.pct} for d in disagreements],
    }


def _run(
    seconds: float, due: int, *, shards: int = 1, items: int | None = None, writes: int | None = None
) -> dict[str, Any]:
    """A timed run as runs.timed_run records it: ``due`` jobs checked, heartbeats sent."""
    counts = {
        "queryItems": due if items is None else items,
        "pollStateWrites": {
            "PutItem": 0,
            "UpdateItem": (due if writes is None else writes) + 2 * shards,
            "DeleteItem": 0,
        },
        "tokenTableWrites": {"PutItem": 0, "UpdateItem": 0, "DeleteItem": 0},
        "transactions": 0,
        "sends": {"SendTaskHeartbeat": due},
        "sendErrors": {"SendTaskHeartbeat": 0},
    }
    return {
        "shards": shards,
        "due": due,
        "seconds": seconds,
        "jobsPerSecond": due / seconds,
        "msPerJob": seconds * 1000 / due,
        "summary": {"checked": due, "heartbeats": due, "succeeded": due},
        **counts,
        "writes": writes_per_poll(counts, due, shards),
    }


def _scale(*, large_seconds: float = 44.0, floor_seconds: float = 40.0, items: int = 1000) -> dict[str, Any]:
    return {
        "pending1k": [_run(50.0, 1000), _run(40.0, 1000)],
        "floor": {
            "jobs": 1000,
            "seconds": floor_seconds,
            "jobsPerSecond": 1000 / floor_seconds,
            "calls": "c",
            "concurrency": 16,
        },
        "pending10k": _run(large_seconds, 1000, items=items),
        "shards4": _run(30.0, 1000, shards=4),
        "success": _run(60.0, 1000, shards=4),
        "endStates": {"SUCCEEDED": 1000},
        "startSeconds": 100.0,
        "seedSeconds": 5.0,
    }


def test_writes_per_poll_leave_the_shard_lease_to_the_run() -> None:
    counts = {"pollStateWrites": {"UpdateItem": 102}, "tokenTableWrites": {"PutItem": 0}, "transactions": 0}
    assert writes_per_poll(counts, 100, 1) == {"perPoll": 1.0, "perPollWithLeases": 1.02}
    with_tx = {"pollStateWrites": {"UpdateItem": 2}, "tokenTableWrites": {}, "transactions": 200}
    assert writes_per_poll(with_tx, 100, 1)["perPoll"] == 4.0  # decision + finish, one item in each table
    assert writes_per_poll(counts, 0, 1)["perPoll"] is None


def test_scale_figures_judge_each_target_from_the_fastest_small_run() -> None:
    figures = {f.name: f for f in scale_figures(_scale(), 1000, 10_000)}
    ratio = figures["time per due job, 10,000 vs 1,000 pending"]
    assert ratio.value == pytest.approx(44 / 40) and ratio.passed  # against the faster of the two 1k runs
    assert figures["index items read per due job at 10,000 pending"].passed
    assert figures["DynamoDB writes per poll of a running job"].value == 1.0
    assert figures["poller / raw floor"].value == pytest.approx(1.0) and figures["poller / raw floor"].passed
    slow = {f.name: f for f in scale_figures(_scale(large_seconds=60, floor_seconds=20, items=10_000), 1000, 10_000)}
    assert slow["time per due job, 10,000 vs 1,000 pending"].passed is False
    assert slow["poller / raw floor"].passed is False  # 25 vs 50 jobs/s
    assert slow["index items read per due job at 10,000 pending"].passed is False  # read every pending job


def test_items_read_count_against_the_jobs_due_not_only_those_a_run_reached() -> None:
    """A run that hits its deadline has read the jobs it defers too: 1,000 ByDue items for 1,000 due
    jobs of which 809 were checked is one item per due job (the bench once judged it 1.24, FAIL)."""
    scale = _scale()
    scale["pending10k"]["summary"].update({"checked": 809, "deferred": 191, "dueJobs": 1000})
    read = {f.name: f for f in scale_figures(scale, 1000, 10_000)}["index items read per due job at 10,000 pending"]
    assert read.value == pytest.approx(1.0) and read.passed
    assert "1,000 ByDue items read for 1,000 due" in read.measures
    scale["pending10k"]["queryItems"] = 10_000  # every pending job read: still a failure
    read = {f.name: f for f in scale_figures(scale, 1000, 10_000)}["index items read per due job at 10,000 pending"]
    assert read.passed is False


def test_the_bench_judges_its_own_wall_time_against_twenty_minutes() -> None:
    assert duration_figure(19 * 60).passed and duration_figure(19 * 60).value == pytest.approx(19)
    assert duration_figure(27 * 60).passed is False


def test_a_timed_out_execution_fails_the_end_state_figure() -> None:
    ok = end_state_figure("x", {"SUCCEEDED": 2000}, "m")
    assert ok.passed and ok.value == 0 and ok.note == "m; timed out: 0"
    bad = end_state_figure("x", {"SUCCEEDED": 131, "FAILED JobTimedOut": 1869}, "m")
    assert bad.passed is False and bad.value == 1869 and "FAILED JobTimedOut 1,869" in bad.measures
    assert bad.note == "m; timed out: 1,869"
    other = end_state_figure("x", {"SUCCEEDED": 1994, "FAILED Lambda.TooManyRequestsException": 6}, "m")
    assert other.passed is False and other.value == 6  # failed, not on a heartbeat or task timeout
    assert other.note == "m; timed out: 0"


def test_cost_target_from_seven_polls_fails_with_its_reason() -> None:
    workload = aws_token_workload(cost.Workload(token_item_kb=0.4), token_chars=36)
    assert workload.token_item_kb == pytest.approx(0.4 + 2012 / 1024)
    rows = cost_rows(workload, (1, 7, 30))
    assert [r["pollsPerJob"] for r in rows] == [1, 7, 30]
    assert rows[0]["ratioMarginal"] > rows[1]["ratioMarginal"] > rows[2]["ratioMarginal"]
    assert all(r["ratioFloor"] < r["ratioMarginal"] for r in rows)
    reach = cost_reach(workload)
    figure = cost_figure(rows, reach)
    assert figure.value == rows[1]["ratioMarginal"]  # the worst from 7 polls per job up
    assert figure.passed is False and rows[1]["ratioMarginal"] > 0.13
    # At 7 polls even the floor misses 0.13: the note says no design can pass there, and from where.
    assert rows[1]["ratioFloor"] > 0.13
    assert "no callback design can pass there" in figure.note
    assert f"from {reach['floorFromPolls']} polls/job for the floor" in figure.note
    assert f"{reach['fromPolls']} polls/job for this design" in figure.note
    passing = cost_figure([{**rows[1], "ratioMarginal": 0.1}], reach)
    assert passing.passed and passing.note == ""
    # A design that misses where the floor passes is not excused.
    missing = cost_figure([{**rows[2], "ratioMarginal": 0.2}], reach)
    assert missing.passed is False and "no callback design" not in missing.note


def test_the_cost_floor_is_what_no_callback_design_can_go_below() -> None:
    workload = aws_token_workload(cost.Workload(token_item_kb=0.4), token_chars=36).with_polls(7)
    floor = floor_usage(workload)
    loop = cost.design_usage(workload, cost.Design.LOOP).per_job
    callback = cost.design_usage(workload, cost.Design.CALLBACK).per_job
    assert floor.transitions == workload.callback_transitions == 3
    assert floor.lambda_requests == loop.lambda_requests == 8  # the loop's own API calls
    assert floor.ddb_wru == 3  # one write of a 2,048-character token's item
    for field in ("transitions", "lambda_requests", "lambda_gb_s", "ddb_wru"):
        assert getattr(floor, field) <= getattr(callback, field)
    # The ratio is within 0.13 from where the search says, and not one poll sooner.
    reach = cost_reach(workload)
    assert reach["floorFromPolls"] is not None and reach["fromPolls"] is not None
    for key, name in (("ratioFloor", "floorFromPolls"), ("ratioMarginal", "fromPolls")):
        at, before = cost_rows(workload, (reach[name], reach[name] - 1))
        assert at[key] <= 0.13 < before[key]
    assert cost_reach(workload, up_to=3) == {"fromPolls": None, "floorFromPolls": None, "upTo": 3}
    never = cost_figure(cost_rows(workload, (7,)), cost_reach(workload, up_to=3))
    assert "from never (searched up to 3) for the floor, never (searched up to 3) for this design" in never.note


def test_backlog_jobs_are_never_due_and_spread_over_shards() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    seed = backlog(200, now, shards=4)
    assert len(seed.states) == len(seed.tokens) == len(seed.jobs) == 200
    assert {s["dueShard"]["S"] for s in seed.states} == {"0", "1", "2", "3"}
    assert all(int(s["dueAt"]["N"]) >= epoch_ms(now) + NOT_DUE_MS for s in seed.states)
    state = {**seed.states[0], "claimOwner": {"S": "poller-x"}, "sending": {"BOOL": True}}
    due = made_due(state, now_ms=5, shard="2")
    assert due["dueAt"] == {"N": "5"} and due["heartbeatAt"] == {"N": "0"} and due["dueShard"] == {"S": "2"}
    assert "claimOwner" not in due and "sending" not in due
    assert finishing({**seed.jobs[0], "pollCount": {"N": "4"}})["completionPolls"] == {"N": "5"}


def test_report_prints_every_figure_with_its_target_and_verdict() -> None:
    scale = _scale()
    workload = aws_token_workload(cost.Workload(token_item_kb=0.4), token_chars=36)
    rows = cost_rows(workload, (1, 3, 7, 10, 30))
    reach = cost_reach(workload)
    figures = [
        *scale_figures(scale, 1000, 10_000),
        end_state_figure("crowd", {"SUCCEEDED": 2000}, "m"),
        cost_figure(rows, reach),
    ]
    result = jsonable(
        {
            "settings": asdict(BenchSettings(jobs=2, polls=(1, 3))),
            "prices": {"region": "us-east-1", "as_of": "2026-11"},
            "cost": {
                "phases": [_phase(1), _phase(3)],
                "fixedMonthly": {"runsPerMonth": 43_200.0, "runsPerMinute": 1.0, "usd": 0.06},
            },
            "scale": scale,
            "crowd": {"executions": 2000, "startSeconds": 100.0, "seconds": 300.0, "endStates": {"SUCCEEDED": 2000}},
            "figures": figures_dict(figures),
            "pricedCost": {"rows": rows, "reach": reach},
            "seconds": 900.0,
            "file": "bench-results/bench-x.json",
        }
    )
    text = format_report(result)
    lines = text.splitlines()
    ratios = [line for line in lines if line.strip().startswith("ratio cb/loop")]
    assert len(ratios) == 2
    ratio_line = next(line for line in lines if "time per due job, 10,000 vs 1,000 pending" in line)
    assert "1.1" in ratio_line and "<= 1.2" in ratio_line and "PASS" in ratio_line
    cost_line = next(line for line in lines if line.strip().startswith("cost callback/loop"))
    assert ("FAIL" in cost_line) == (not figures[-1].passed)
    assert f"ratio <= 0.13 from {reach['fromPolls']} polls/job; the floor" in text
    assert "callback ddb_wru" in text  # the disagreement with the (made-up) formula
    assert "Crowd: 2,000 executions" in text


def test_pricing_a_phase_gives_only_the_callback_the_schedules_fixed_part() -> None:
    loop = loop_measured(jobs=2, transitions=Transitions(10, 0, 2), api=LambdaCount(4, 0, 100, 128))
    cb = callback(runs_per_month=0)
    formula = {
        # the single-table layout the benchmark's counter measures (no shard leases)
        "callback": cost.design_usage(cost.Workload(polls_per_job=1, poll_state_table=False), Design.CALLBACK),
        "loop": cost.design_usage(cost.Workload(polls_per_job=1), Design.LOOP),
    }
    measured = {"callback": cb, "callbackAwsToken": cb, "loop": loop}
    fixed = IDLE.monthly(43_200)
    phase = price_phase(measured, formula, fixed, jobs_per_month=100_000, tolerance_pct=5.0)
    assert phase["loop"]["measured"]["fixed_monthly"] == asdict(Usage())
    assert phase["callback"]["measured"]["fixed_monthly"] == asdict(fixed)
    assert phase["cost"]["loop_at_volume"] == pytest.approx(phase["cost"]["loop_marginal"])
    assert phase["cost"]["callback_at_volume"] > phase["cost"]["callback_marginal"]
    # the formula's fixed part (43,200 runs) matches the measured one: no disagreement reported on it
    assert not [d for d in phase["disagreements"] if d["part"] == "fixed_monthly" and d["metric"] != "lambda_gb_s"]


def test_the_bench_refuses_a_local_cloud_with_executions_running(moto_sfn: MotoStepFunctions) -> None:
    callback, loop = moto_sfn.state_machine("CallbackWorkflow"), moto_sfn.state_machine("PollingLoop")
    running = moto_sfn.start(loop, 3)
    moto_sfn.stop(running[:1])
    with pytest.raises(CommandFailed) as err:
        refuse_busy(moto_sfn.target, "http://localhost:4566", [callback, loop])
    assert "(2 of PollingLoop)" in str(err.value)
    assert "callbackctl cleanup" in str(err.value)
    moto_sfn.stop(running[1:])
    refuse_busy(moto_sfn.target, "http://localhost:4566", [callback, loop])  # nothing running: goes on


def test_a_local_cloud_that_stops_answering_mid_run_is_named_with_its_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from botocore.exceptions import EndpointConnectionError

    import localcloud
    from callbackctl.bench import run as bench_run

    stopped: list[object] = []
    log = tmp_path / "localstack.log"
    instance = SimpleNamespace(endpoint="http://localhost:4566", log_file=log, already_running=False)
    monkeypatch.setattr(localcloud, "start", lambda **_: instance)
    monkeypatch.setattr(localcloud, "stop", lambda **kw: stopped.append(kw))

    def overrun(*_args: object, **_kwargs: object) -> None:
        raise EndpointConnectionError(endpoint_url="http://localhost:4566/")

    monkeypatch.setattr(bench_run, "_measure", overrun)
    with pytest.raises(CommandFailed) as err:
        bench_run.run_bench(QUICK, out_dir=tmp_path, echo=lambda _m: None)
    assert "the local cloud at http://localhost:4566 stopped answering during the run" in str(err.value)
    assert str(tmp_path / "localstack.log") in str(err.value)
    assert stopped, "the bench stops the local cloud it started"
