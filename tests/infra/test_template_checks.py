"""Whole-template checks: snapshot, cfn-lint, cdk-nag."""

from __future__ import annotations

import json
from typing import Any

from cfnlint.api import ManualArgs, lint_file
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from .conftest import Synth
from .template_helpers import normalised, resources

# CDK's own DependsOn on a role it also references; harmless and not ours to change.
ACCEPTED_LINT_RULES = {"W3005"}


def test_template_matches_snapshot(synth: Synth, snapshot: SnapshotAssertion) -> None:
    """Review the diff (`pytest --snapshot-update`) whenever the infrastructure changes."""
    assert normalised(synth.template) == snapshot.use_extension(JSONSnapshotExtension)


def test_every_recommended_feature_flag_is_set(synth: Synth) -> None:
    """cdk.json carries the flags `cdk init` of the pinned version writes; a CDK upgrade that
    brings new ones makes the CLI name them again (review each: docs/design.md, Feature flags)."""
    assert "feature flags are not configured" not in synth.output


def test_cfn_lint_finds_nothing(synth: Synth) -> None:
    matches = lint_file(synth.template_path, ManualArgs(regions=["us-east-1"]))
    findings = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id not in ACCEPTED_LINT_RULES]
    assert findings == []


def test_cdk_nag_ran_and_reported_nothing(synth: Synth) -> None:
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    assert [r for r in report["pluginReports"] if r.get("violations")] == []
    # The acknowledgements below reach the template only when the AwsSolutions pack is on.
    assert any("cdk_nag" in r.get("Metadata", {}) for r in synth.template["Resources"].values())


def _acknowledged(template_json: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (resource["Metadata"]["aws:cdk:path"], rule["id"])
        for resource in template_json["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    }


def test_every_acknowledgement_is_narrow_and_explained(template_json: dict[str, Any]) -> None:
    for resource in template_json["Resources"].values():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            assert len(rule["reason"]) >= 40, rule
            # IAM5 findings are acknowledged one wildcard resource at a time.
            if rule["id"].startswith("AwsSolutions-IAM5"):
                assert rule["id"].startswith("AwsSolutions-IAM5[Resource::"), rule


def test_acknowledged_findings(template_json: dict[str, Any]) -> None:
    """The full list, so adding an acknowledgement shows up in review."""
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
    assert _acknowledged(template_json) == {
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
