"""Whole-template checks on each stage: snapshot, cfn-lint (informational rules on), cdk-nag."""

from __future__ import annotations

import json
from typing import Any

from cfnlint.api import ManualArgs, lint_file
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from .conftest import Synth
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
    index = "AwsSolutions-IAM5[Resource::<JobStoreTaskTokensTable92503B56.Arn>/index/*]"
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
        (f"{stack}/Workflow/CreateJobFunctionRole/DefaultPolicy/Resource", index),
        (f"{stack}/Workflow/CreateJobFunctionRole/DefaultPolicy/Resource", api),
        (f"{stack}/Poller/FunctionRole/DefaultPolicy/Resource", xray),
        (f"{stack}/Poller/FunctionRole/DefaultPolicy/Resource", index),
        (f"{stack}/Poller/FunctionRole/DefaultPolicy/Resource", api),
        (f"{stack}/Workflow/StateMachine/Role/DefaultPolicy/Resource", xray),
        (f"{stack}/Workflow/StateMachine/Role/DefaultPolicy/Resource", create_job),
        (f"{stack}/Poller/ScheduleRole/DefaultPolicy/Resource", poller),
        (f"{stack}/Poller/DeadLetterQueue/Resource", "AwsSolutions-SQS3"),
    }
