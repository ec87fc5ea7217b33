"""``wait_for`` and ``running_executions`` against moto's Step Functions, counting the requests: a
large wait lists the running executions once a round and describes only those that left the list."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from callbackctl.deployment import executions as ex
from callbackctl.deployment.targets import Target

REGION = "us-east-1"
DEFINITION = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}


@pytest.fixture
def sfn_target(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Target, str, Counter[str]]]:
    """A target on moto, a state machine, and a count of Step Functions requests by operation."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        target = Target(name="aws", endpoint_url=None, region=REGION, stage="aws")
        sfn = target.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="Waits", definition=json.dumps(DEFINITION), roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        calls: Counter[str] = Counter()
        sfn.meta.events.register("before-call.sfn.*", lambda model, **_: calls.update([model.name]))
        yield target, machine, calls


def _start(target: Target, machine: str, count: int) -> list[str]:
    sfn = target.client("stepfunctions")
    return [sfn.start_execution(stateMachineArn=machine, name=f"run-{i}")["executionArn"] for i in range(count)]


def test_state_machine_of_an_execution_arn() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:execution:CallbackWorkflow:run-1"
    assert ex.state_machine_of(arn) == "arn:aws:states:us-east-1:123456789012:stateMachine:CallbackWorkflow"


def test_running_executions_lists_in_pages_of_a_thousand(sfn_target: tuple[Target, str, Counter[str]]) -> None:
    target, machine, _calls = sfn_target
    arns = _start(target, machine, 3)
    target.client("stepfunctions").stop_execution(executionArn=arns[0])
    pages: list[dict[str, Any]] = []
    target.client("stepfunctions").meta.events.register(
        "before-parameter-build.sfn.ListExecutions", lambda params, **_: pages.append(dict(params))
    )
    assert sorted(ex.running_executions(target, machine)) == sorted(arns[1:])
    assert [p["maxResults"] for p in pages] == [ex.LIST_PAGE_SIZE]


def test_a_large_wait_describes_only_the_executions_that_left_the_running_list(
    sfn_target: tuple[Target, str, Counter[str]],
) -> None:
    target, machine, calls = sfn_target
    count = ex.DESCRIBE_EACH_UP_TO + 10
    arns = _start(target, machine, count)
    stopped = arns[:7]
    for arn in stopped:
        target.client("stepfunctions").stop_execution(executionArn=arn)
    calls.clear()

    statuses = ex.wait_for(target, arns, timeout=0)

    assert statuses == {arn: "ABORTED" if arn in stopped else "RUNNING" for arn in arns}
    assert calls["DescribeExecution"] == len(stopped)
    assert calls["ListExecutions"] == 1


def test_an_execution_the_running_list_leaves_out_is_described_not_assumed_ended(
    sfn_target: tuple[Target, str, Counter[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, machine, calls = sfn_target
    arns = _start(target, machine, ex.DESCRIBE_EACH_UP_TO + 5)
    listed = set(arns[3:])  # a lagging listing: three running executions missing from it
    monkeypatch.setattr(ex, "running_executions", lambda _t, _m: sorted(listed))
    calls.clear()

    statuses = ex.wait_for(target, arns, timeout=0)

    assert set(statuses.values()) == {"RUNNING"}
    assert calls["DescribeExecution"] == 3


def test_a_small_wait_describes_each_execution(sfn_target: tuple[Target, str, Counter[str]]) -> None:
    target, machine, calls = sfn_target
    arns = _start(target, machine, 5)
    target.client("stepfunctions").stop_execution(executionArn=arns[0])
    calls.clear()

    statuses = ex.wait_for(target, arns, timeout=0)

    assert statuses[arns[0]] == "ABORTED"
    assert calls["DescribeExecution"] == 5
    assert calls["ListExecutions"] == 0
