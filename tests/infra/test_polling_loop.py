"""The benchmark's baseline stack (`-c baseline=true`): a Wait -> CheckStatus -> Choice polling loop.

One extra synth for this module's session fixture, through the pinned CLI like conftest.py's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from common import end_states
from stacks.config import load_stage_config
from stacks.polling_loop import BASELINE_STACK_NAME, default_wait_seconds

from .conftest import Synth, cdk_synth
from .template_helpers import end_states_of, expected_end_states, resources

WAIT_SECONDS = 7  # -c loopWaitSeconds, so the test sees the setting reach the Wait state
MAX_ATTEMPTS = 10  # the local stage's


@dataclass(frozen=True, kw_only=True)
class BaselineSynth:
    outdir: Path
    template: dict[str, Any]
    callback_template: dict[str, Any]


@pytest.fixture(scope="session")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> BaselineSynth:
    """`cdk synth -c stage=local -c baseline=true` (cdk-nag included) into a temporary cloud assembly."""
    outdir = tmp_path_factory.mktemp("cdk.out.baseline")
    cdk_synth(outdir, "stage=local", "baseline=true", f"loopWaitSeconds={WAIT_SECONDS}")
    return BaselineSynth(
        outdir=outdir,
        template=json.loads((outdir / f"{BASELINE_STACK_NAME}.template.json").read_text()),
        callback_template=json.loads((outdir / "CallbackPattern.template.json").read_text()),
    )


def _one(template: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


def _definition(template: dict[str, Any]) -> dict[str, Any]:
    """The ASL with `{"Fn::GetAtt": [X, "Arn"]}` as `${X.Arn}` and `{"Ref": X}` as `${X}`."""
    _, machine = _one(template, "AWS::StepFunctions::StateMachine")
    separator, parts = machine["Properties"]["DefinitionString"]["Fn::Join"]

    def text(part: Any) -> str:
        if isinstance(part, str):
            return part
        if "Ref" in part:
            return "${" + part["Ref"] + "}"
        return "${" + ".".join(part["Fn::GetAtt"]) + "}"

    return dict(json.loads(separator.join(text(p) for p in parts)))


@pytest.fixture(scope="module")
def definition(baseline: BaselineSynth) -> dict[str, Any]:
    return _definition(baseline.template)


def test_states_form_a_wait_check_choice_loop(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert definition["StartAt"] == "CreateJob"
    assert {name: state["Type"] for name, state in states.items()} == {
        "CreateJob": "Task",
        "WaitBeforeCheck": "Wait",
        "CheckStatus": "Task",
        "IsJobDone": "Choice",
        "JobSucceeded": "Succeed",
        "JobFailed": "Fail",
        "MaxAttemptsExceeded": "Fail",
    }
    assert states["CreateJob"]["Next"] == "WaitBeforeCheck"
    assert states["WaitBeforeCheck"] == {
        "Type": "Wait",
        "Comment": "One poll interval",
        "Seconds": WAIT_SECONDS,
        "Next": "CheckStatus",
    }
    assert states["CheckStatus"]["Next"] == "IsJobDone"
    assert states["IsJobDone"]["Default"] == "WaitBeforeCheck"  # still running: poll again


def test_the_end_states_are_the_ones_common_end_states_names(definition: dict[str, Any]) -> None:
    assert end_states_of(definition) == expected_end_states(
        end_states.POLLING_LOOP_END_STATES, end_states.JOB_SUCCEEDED
    )


def test_the_choice_ends_on_the_status_and_gives_up_after_max_attempts(definition: dict[str, Any]) -> None:
    choices = definition["States"]["IsJobDone"]["Choices"]
    assert choices == [
        {"Variable": "$.check.report.status", "StringEquals": "COMPLETED", "Next": "JobSucceeded"},
        {"Variable": "$.check.report.status", "StringEquals": "FAILED", "Next": "JobFailed"},
        {
            "Variable": "$.check.report.pollCount",
            "NumericGreaterThanEquals": MAX_ATTEMPTS,
            "Next": "MaxAttemptsExceeded",
        },
    ]
    failed = definition["States"]["JobFailed"]
    assert (failed["Error"], failed["CausePath"]) == ("JobFailed", "$.check.report.error")
    assert definition["States"]["MaxAttemptsExceeded"]["Error"] == "MaxAttemptsExceeded"


def test_both_tasks_call_the_baselines_own_simulated_api(baseline: BaselineSynth, definition: dict[str, Any]) -> None:
    api, function = _one(baseline.template, "AWS::Lambda::Function")
    assert function["Properties"]["Handler"] == "simulated_api.handler.lambda_handler"
    create, check = definition["States"]["CreateJob"], definition["States"]["CheckStatus"]
    for task in (create, check):
        assert task["Resource"] == "arn:${AWS::Partition}:states:::lambda:invoke"
        assert task["Parameters"]["FunctionName"] == "${" + api + ".Arn}"
    assert create["Parameters"]["Payload"] == {
        "action": "CREATE_JOB",
        "idempotencyKey.$": "$$.Execution.Id",
        "simulate.$": "$.simulate",
        "payload.$": "$.payload",
    }
    assert create["ResultSelector"] == {"jobId.$": "$.Payload.jobId"}
    assert create["ResultPath"] == "$.job"
    assert check["Parameters"]["Payload"] == {"action": "CHECK_STATUS", "jobId.$": "$.job.jobId"}
    assert (check["ResultSelector"], check["ResultPath"]) == ({"report.$": "$.Payload"}, "$.check")
    # Its own jobs table, read and written by its own function.
    table, _ = _one(baseline.template, "AWS::DynamoDB::Table")
    assert function["Properties"]["Environment"]["Variables"]["JOBS_TABLE_NAME"] == {"Ref": table}


def test_jsonpath_not_jsonata(baseline: BaselineSynth, definition: dict[str, Any]) -> None:
    assert definition.get("QueryLanguage", "JSONPath") == "JSONPath"
    assert all("QueryLanguage" not in state for state in definition["States"].values())
    assert "JSONata" not in json.dumps(baseline.template)


def test_standard_state_machine_with_logs_tracing_and_a_timeout(baseline: BaselineSynth) -> None:
    _, machine = _one(baseline.template, "AWS::StepFunctions::StateMachine")
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"  # billed per transition, like the callback workflow
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert _definition(baseline.template)["TimeoutSeconds"] == 1800 + 300


def test_outputs_name_what_the_benchmark_reads(baseline: BaselineSynth) -> None:
    assert set(baseline.template["Outputs"]) == {"StateMachineArn", "SimulatedApiFunctionName", "JobsTableName"}


def test_cdk_nag_reports_nothing_and_acknowledgements_are_narrow(baseline: BaselineSynth) -> None:
    report = json.loads((baseline.outdir / "validation-report.json").read_text())
    assert [r for r in report["pluginReports"] if r.get("violations")] == []
    acknowledged = {
        (resource["Metadata"]["aws:cdk:path"], rule["id"])
        for resource in baseline.template["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    }
    api, _ = _one(baseline.template, "AWS::Lambda::Function")
    stack = BASELINE_STACK_NAME
    assert acknowledged == {
        (f"{stack}/SimulatedApi/Function/Resource", "AwsSolutions-L1"),
        (f"{stack}/SimulatedApi/FunctionRole/DefaultPolicy/Resource", "AwsSolutions-IAM5[Resource::*]"),
        (f"{stack}/Workflow/StateMachine/Role/DefaultPolicy/Resource", "AwsSolutions-IAM5[Resource::*]"),
        (f"{stack}/Workflow/StateMachine/Role/DefaultPolicy/Resource", f"AwsSolutions-IAM5[Resource::<{api}.Arn>:*]"),
    }


def test_the_callback_stack_is_the_same_with_or_without_the_baseline(baseline: BaselineSynth, synth: Synth) -> None:
    assert not (synth.outdir / f"{BASELINE_STACK_NAME}.template.json").exists()
    assert baseline.callback_template == synth.template


def test_the_default_wait_is_the_pollers_interval_in_real_seconds() -> None:
    assert default_wait_seconds(load_stage_config("local")) == 60
    assert default_wait_seconds(load_stage_config("local", {"scheduleClockSpeed": "30"})) == 2
    assert default_wait_seconds(load_stage_config("local", {"scheduleClockSpeed": "1000"})) == 1
