"""Fixtures for the unit tests: moto's Step Functions behind a Target, counting its requests."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from moto import mock_aws

from callbackctl.deployment.targets import Target

REGION = "us-east-1"
# Executions of it keep running (an hour's Wait) until stopped.
WAITING_DEFINITION = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}


@dataclass
class MotoStepFunctions:
    target: Target
    calls: Counter[str] = field(default_factory=Counter)  # Step Functions requests by operation

    def state_machine(self, name: str = "Waits") -> str:
        return self.target.client("stepfunctions").create_state_machine(
            name=name, definition=json.dumps(WAITING_DEFINITION), roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]

    def start(self, machine: str, count: int) -> list[str]:
        sfn = self.target.client("stepfunctions")
        return [sfn.start_execution(stateMachineArn=machine, name=f"run-{i}")["executionArn"] for i in range(count)]

    def stop(self, arns: list[str]) -> None:
        for arn in arns:
            self.target.client("stepfunctions").stop_execution(executionArn=arn)


@pytest.fixture
def moto_sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStepFunctions]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        moto = MotoStepFunctions(Target(name="aws", endpoint_url=None, region=REGION, stage="aws"))
        moto.target.client("stepfunctions").meta.events.register(
            "before-call.sfn.*", lambda model, **_: moto.calls.update([model.name])
        )
        yield moto
