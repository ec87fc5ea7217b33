"""Whole-template checks on each stage: snapshot, cfn-lint (informational rules on), cdk-nag, checkov."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from .conftest import ROOT, Synth
from .template_helpers import STACK, normalised, resources

# cfn-lint's one finding: W3005 on each function and on the state machine. CDK makes them depend
# on their whole role construct, i.e. on the role and on its DefaultPolicy. The policy dependency
# matters (nothing may run before its permissions exist); the role one repeats what the `Role`
# (`RoleArn`) GetAtt already enforces. Harmless, and removing it would mean overriding CDK's
# rendered DependsOn list, which would silently drop any dependency CDK adds later.
REDUNDANT_ROLE_DEPENDENCIES = {
    ("W3005", "SimulatedApi/Function"),
    ("W3005", "Workflow/CreateJobFunction"),
    ("W3005", "Poller/Function"),
    ("W3005", "Workflow/StateMachine"),
}


def test_template_matches_snapshot(stage_synth: Synth, snapshot: SnapshotAssertion) -> None:
    """One snapshot per stage. Review the diff (`pytest --snapshot-update`) whenever the
    infrastructure changes."""
    assert normalised(stage_synth.template) == snapshot.use_extension(JSONSnapshotExtension)


def test_every_recommended_feature_flag_is_set(synth: Synth) -> None:
    """cdk.json carries the flags `cdk init` of the pinned version writes; a CDK upgrade that
    brings new ones makes the CLI name them again (review each: docs/design.md, Feature flags)."""
    assert "feature flags are not configured" not in synth.output


def _construct_path(template: dict[str, Any], logical_id: str) -> str:
    path: str = template["Resources"][logical_id]["Metadata"]["aws:cdk:path"]
    return path.removeprefix(f"{STACK}/").removesuffix("/Resource")


def test_cfn_lint_finds_only_the_redundant_role_dependencies(stage_synth: Synth) -> None:
    """Errors, warnings, informational and experimental rules: nothing but the W3005s above."""
    matches = lint_file(
        stage_synth.template_path,
        ManualArgs(regions=["us-east-1"], include_checks=["I"], include_experimental=True),
    )
    assert [f"{m.rule.id} {m.message}" for m in matches if m.path[:1] != ["Resources"]] == []
    findings = {(m.rule.id, _construct_path(stage_synth.template, m.path[1])) for m in matches}
    assert findings == REDUNDANT_ROLE_DEPENDENCIES
    for match in matches:
        # The dependency each one repeats is the resource's own role, through its Role GetAtt.
        properties = stage_synth.template["Resources"][match.path[1]]["Properties"]
        role, _ = (properties.get("Role") or properties["RoleArn"])["Fn::GetAtt"]
        assert match.path[2] == "DependsOn" and match.message.startswith(f"'{role}' dependency"), match.message


def test_cdk_nag_ran_and_reported_nothing(stage_synth: Synth) -> None:
    report = json.loads((stage_synth.outdir / "validation-report.json").read_text())
    assert [r for r in report["pluginReports"] if r.get("violations")] == []
    # The acknowledgements below reach the template only when the AwsSolutions pack is on.
    assert any("cdk_nag" in r.get("Metadata", {}) for r in stage_synth.template["Resources"].values())


def _acknowledged(template_json: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (resource["Metadata"]["aws:cdk:path"], rule["id"])
        for resource in template_json["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    }


def test_every_acknowledgement_is_narrow_and_explained(stage_synth: Synth) -> None:
    for resource in stage_synth.template["Resources"].values():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            assert len(rule["reason"]) >= 40, rule
            # IAM5 findings are acknowledged one wildcard resource or action at a time.
            if rule["id"].startswith("AwsSolutions-IAM5"):
                assert rule["id"].startswith(("AwsSolutions-IAM5[Resource::", "AwsSolutions-IAM5[Action::")), rule


def test_acknowledged_findings(stage_synth: Synth) -> None:
    """The full list, so adding an acknowledgement shows up in review."""
    template_json = stage_synth.template
    xray = "AwsSolutions-IAM5[Resource::*]"
    state_machine = next(iter(resources(template_json, "AWS::StepFunctions::StateMachine")))
    executions = (
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
        f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{state_machine}"}}]}}]}}:*]'
    )
    functions = {
        name: logical_id
        for logical_id, function in resources(template_json, "AWS::Lambda::Function").items()
        for name in [function["Metadata"]["aws:cdk:path"].split("/")[1]]
    }
    api = f"AwsSolutions-IAM5[Resource::<{functions['SimulatedApi']}.Arn>:*]"
    create_job = f"AwsSolutions-IAM5[Resource::<{functions['Workflow']}.Arn>:*]"
    poller = f"AwsSolutions-IAM5[Resource::<{functions['Poller']}.Arn>:*]"
    stack = "CallbackPattern"
    # On AWS, the task-token table's key: granted with two wildcard actions (on that key only).
    key_actions = {
        (f"{stack}/{role}/DefaultPolicy/Resource", f"AwsSolutions-IAM5[Action::{action}]")
        for role in ("Workflow/CreateJobFunctionRole", "Poller/FunctionRole")
        for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*")
        if stage_synth.stage == "aws"
    }
    assert _acknowledged(template_json) == key_actions | {
        (f"{stack}/SimulatedApi/Function/Resource", "AwsSolutions-L1"),
        (f"{stack}/Workflow/CreateJobFunction/Resource", "AwsSolutions-L1"),
        (f"{stack}/Poller/Function/Resource", "AwsSolutions-L1"),
        (f"{stack}/SimulatedApi/FunctionRole/DefaultPolicy/Resource", xray),
        (f"{stack}/Workflow/CreateJobFunctionRole/DefaultPolicy/Resource", xray),
        (f"{stack}/Workflow/CreateJobFunctionRole/DefaultPolicy/Resource", api),
        (f"{stack}/Poller/FunctionRole/DefaultPolicy/Resource", xray),
        (f"{stack}/Poller/FunctionRole/DefaultPolicy/Resource", executions),
        (f"{stack}/Poller/FunctionRole/DefaultPolicy/Resource", api),
        (f"{stack}/Workflow/StateMachine/Role/DefaultPolicy/Resource", xray),
        (f"{stack}/Workflow/StateMachine/Role/DefaultPolicy/Resource", create_job),
        (f"{stack}/Poller/ScheduleRole/DefaultPolicy/Resource", poller),
        (f"{stack}/Poller/DeadLetterQueue/Resource", "AwsSolutions-SQS3"),
        (f"{stack}/Monitoring/AlarmTopic/Resource", "AwsSolutions-SNS2"),
    }


# checkov lives in a virtualenv of its own (requirements-checkov.txt): its pins clash with ours.
CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"
FUNCTIONS = ("SimulatedApi/Function", "Workflow/CreateJobFunction", "Poller/Function")
LOG_GROUPS = (
    "SimulatedApi/FunctionLogGroup",
    "Workflow/CreateJobFunctionLogGroup",
    "Poller/FunctionLogGroup",
    "Workflow/StateMachineLogGroup",
)
# Every checkov check the templates skip, with its reason in the resource's Metadata.checkov.skip.
CHECKOV_SKIPS = {
    *(("CKV_AWS_117", f) for f in FUNCTIONS),  # no VPC: only AWS APIs are called
    *(("CKV_AWS_173", f) for f in FUNCTIONS),  # environment: names and settings, no secrets
    *(
        ("CKV_AWS_116", f) for f in FUNCTIONS
    ),  # no Lambda DLQ: invoked synchronously; the poller's next run is its retry
    *(("CKV_AWS_158", g) for g in LOG_GROUPS),  # log groups without a customer-managed key: no secrets logged
    ("CKV_AWS_119", "SimulatedApi/JobsTable"),  # the simulated external API's table: AWS-managed key
    ("CKV_AWS_119", "JobStore/PollStateTable"),  # poll times and leases, no task token: AWS-managed key
    ("CKV_AWS_27", "Poller/DeadLetterQueue"),  # SSE-SQS, which this CloudFormation check does not recognise
    ("CKV_AWS_26", "Monitoring/AlarmTopic"),  # alarm notifications: no data; CloudWatch cannot use aws/sns
}
# The local stage keeps the AWS-managed key for the task tokens and leaves the poller unreserved.
LOCAL_ONLY_SKIPS = {("CKV_AWS_119", "JobStore/TaskTokensTable"), ("CKV_AWS_115", "Poller/Function")}
CHECKOV_SKIPS |= {("CKV_AWS_115", "SimulatedApi/Function")}
# create_job is reserved only on the local stage, where a burst of starts would overrun the machine
# (stacks/config.py); on AWS it scales with the executions.
AWS_ONLY_SKIPS = {("CKV_AWS_115", "Workflow/CreateJobFunction")}


@pytest.fixture(scope="session")
def checkov_results(synth: Synth, aws_synth: Synth) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """One checkov run over both stages' templates: stage -> {"passed"|"failed"|"skipped": checks}."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make setup` first")
    synths = (synth, aws_synth)
    command = [str(CHECKOV), "--framework", "cloudformation", "--output", "json", "--skip-download"]
    command += [arg for each in synths for arg in ("--file", str(each.template_path))]
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    # Exit code 1 means "found failed checks"; the report says which.
    if result.returncode not in (0, 1):
        pytest.fail(f"checkov failed ({result.returncode}):\n{result.stdout}\n{result.stderr}", pytrace=False)
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    stage_of = {str(each.template_path.resolve()): each.stage for each in synths}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        each.stage: {"passed": [], "failed": [], "skipped": []} for each in synths
    }
    for kind in ("passed", "failed", "skipped"):
        for check in report["results"][f"{kind}_checks"]:
            results[stage_of[str(check["file_abs_path"])]][kind].append(check)
    return results


def _checks(template: dict[str, Any], checks: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(check id, construct path) of each check; checkov names a resource `Type.LogicalId`."""
    return {(check["check_id"], _construct_path(template, check["resource"].rsplit(".", 1)[1])) for check in checks}


def test_checkov_fails_nothing(stage_synth: Synth, checkov_results: dict[str, Any]) -> None:
    results = checkov_results[stage_synth.stage]
    assert _checks(stage_synth.template, results["failed"]) == set()
    assert results["passed"], "checkov passed no check: did it scan the template?"


def test_checkov_skips_only_the_listed_checks_each_with_its_reason(
    stage_synth: Synth, checkov_results: dict[str, Any]
) -> None:
    skipped = checkov_results[stage_synth.stage]["skipped"]
    expected = CHECKOV_SKIPS | (LOCAL_ONLY_SKIPS if stage_synth.stage == "local" else AWS_ONLY_SKIPS)
    assert _checks(stage_synth.template, skipped) == expected
    for check in skipped:
        assert len(check["check_result"]["suppress_comment"]) >= 40, check["check_result"]


def test_checkov_passes_the_aws_stages_key_and_reservation(aws_synth: Synth, checkov_results: dict[str, Any]) -> None:
    """What the aws stage fixes instead of skipping counts as a pass with the scanner."""
    passed = _checks(aws_synth.template, checkov_results["aws"]["passed"])
    assert {("CKV_AWS_119", "JobStore/TaskTokensTable"), ("CKV_AWS_115", "Poller/Function")} <= passed
    # The key itself: rotation on (CKV_AWS_7), no wildcard principal in its policy (CKV_AWS_33).
    assert {("CKV_AWS_7", "JobStore/TaskTokensKey"), ("CKV_AWS_33", "JobStore/TaskTokensKey")} <= passed
