"""``wait_for`` and ``running_executions`` against moto's Step Functions, counting the requests: a
large wait lists the running executions once a round and describes only those that left the list."""

from __future__ import annotations

from typing import Any

import pytest

from callbackctl.bench import realpath
from callbackctl.deployment import executions as ex
from callbackctl.errors import TimedOut

from .conftest import MotoStepFunctions


def test_state_machine_of_an_execution_arn() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:execution:CallbackWorkflow:run-1"
    assert ex.state_machine_of(arn) == "arn:aws:states:us-east-1:123456789012:stateMachine:CallbackWorkflow"


def test_running_executions_lists_in_pages_of_a_thousand(moto_sfn: MotoStepFunctions) -> None:
    machine = moto_sfn.state_machine()
    arns = moto_sfn.start(machine, 3)
    moto_sfn.stop(arns[:1])
    pages: list[dict[str, Any]] = []
    moto_sfn.target.client("stepfunctions").meta.events.register(
        "before-parameter-build.sfn.ListExecutions", lambda params, **_: pages.append(dict(params))
    )
    assert sorted(ex.running_executions(moto_sfn.target, machine)) == sorted(arns[1:])
    assert [p["maxResults"] for p in pages] == [ex.LIST_PAGE_SIZE]


def test_a_large_wait_describes_only_the_executions_that_left_the_running_list(moto_sfn: MotoStepFunctions) -> None:
    arns = moto_sfn.start(moto_sfn.state_machine(), ex.DESCRIBE_EACH_UP_TO + 10)
    stopped = arns[:7]
    moto_sfn.stop(stopped)
    moto_sfn.calls.clear()

    statuses = ex.wait_for(moto_sfn.target, arns, timeout=0)

    assert statuses == {arn: "ABORTED" if arn in stopped else "RUNNING" for arn in arns}
    assert moto_sfn.calls["DescribeExecution"] == len(stopped)
    assert moto_sfn.calls["ListExecutions"] == 1


def test_an_execution_the_running_list_leaves_out_is_described_not_assumed_ended(
    moto_sfn: MotoStepFunctions, monkeypatch: pytest.MonkeyPatch
) -> None:
    arns = moto_sfn.start(moto_sfn.state_machine(), ex.DESCRIBE_EACH_UP_TO + 5)
    listed = sorted(arns[3:])  # a lagging listing: three running executions missing from it
    monkeypatch.setattr(ex, "running_executions", lambda _t, _m: listed)
    moto_sfn.calls.clear()

    statuses = ex.wait_for(moto_sfn.target, arns, timeout=0)

    assert set(statuses.values()) == {"RUNNING"}
    assert moto_sfn.calls["DescribeExecution"] == 3


def test_a_small_wait_describes_each_execution(moto_sfn: MotoStepFunctions) -> None:
    arns = moto_sfn.start(moto_sfn.state_machine(), 5)
    moto_sfn.stop(arns[:1])
    moto_sfn.calls.clear()

    statuses = ex.wait_for(moto_sfn.target, arns, timeout=0)

    assert statuses[arns[0]] == "ABORTED"
    assert moto_sfn.calls["DescribeExecution"] == 5
    assert moto_sfn.calls["ListExecutions"] == 0


class _Bench:
    """What ``wait_all_ended`` uses of a bench run: a target, the state machine, a log."""

    def __init__(self, moto_sfn: MotoStepFunctions, machine: str) -> None:
        self.target = moto_sfn.target
        self.dep = type("Dep", (), {"state_machine_arn": machine})()
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def test_the_bench_checks_for_any_running_cheaply_and_counts_them_now_and_then(
    moto_sfn: MotoStepFunctions, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = moto_sfn.state_machine()
    arns = moto_sfn.start(machine, 4)
    bench = _Bench(moto_sfn, machine)
    pages: list[int] = []
    moto_sfn.target.client("stepfunctions").meta.events.register(
        "before-parameter-build.sfn.ListExecutions", lambda params, **_: pages.append(params["maxResults"])
    )
    monkeypatch.setattr(realpath, "sleep_between_checks", lambda: moto_sfn.stop(arns[:1]) or arns.pop(0))

    assert realpath.wait_all_ended(bench, 60, "test") == 0  # type: ignore[arg-type]

    assert pages == [ex.LIST_PAGE_SIZE, 1, 1, 1, 1]  # one count, then one item a check until none runs
    assert bench.lines == ["  test: 4 executions still running"]


def test_the_bench_wait_reports_what_still_runs_at_its_deadline(moto_sfn: MotoStepFunctions) -> None:
    machine = moto_sfn.state_machine()
    moto_sfn.start(machine, 3)
    bench = _Bench(moto_sfn, machine)
    assert realpath.wait_all_ended(bench, -1, "test", raise_on_timeout=False) == 3  # type: ignore[arg-type]
    with pytest.raises(TimedOut, match="3 executions still running"):
        realpath.wait_all_ended(bench, -1, "test")  # type: ignore[arg-type]


class FakeTime:
    """``time`` for ``executions``: a clock that moves only when the code sleeps or a fake says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_a_wait_pauses_four_times_as_long_as_a_slow_round_took(
    moto_sfn: MotoStepFunctions, monkeypatch: pytest.MonkeyPatch
) -> None:
    arns = moto_sfn.start(moto_sfn.state_machine(), ex.DESCRIBE_EACH_UP_TO + 1)
    clock = FakeTime()

    def slow_listing(_target: object, _machine: str) -> list[str]:
        clock.now += 0.5  # the listing took half a second
        return list(arns)

    monkeypatch.setattr(ex, "running_executions", slow_listing)
    monkeypatch.setattr(ex, "time", clock)

    ex.wait_for(moto_sfn.target, arns, timeout=6, interval=1.0)

    assert clock.pauses == [2.0, 2.0, 0.5]  # 4 x 0.5 s, not the 1 s interval; the last one ends at the deadline


def test_a_quick_round_pauses_for_the_interval(moto_sfn: MotoStepFunctions, monkeypatch: pytest.MonkeyPatch) -> None:
    arns = moto_sfn.start(moto_sfn.state_machine(), 2)
    clock = FakeTime()
    monkeypatch.setattr(ex, "time", clock)
    ex.wait_for(moto_sfn.target, arns, timeout=2.5, interval=1.0)
    assert clock.pauses == [1.0, 1.0, 0.5]
