"""What differs between the `local` and `aws` stages' templates, and nothing else.

Both come from conftest's session synths. The other modules check the local stage's template in
detail and the checks every stage must pass (lint, scans, IAM); this one pins the differences a
user of the `aws` stage relies on: data kept, logs kept longer, longer waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import Synth
from .template_helpers import STACK, resource, resources, state_machine_definition

# Construct paths (below the stack) of everything that holds data or logs.
TABLES = ("JobStore/TaskTokensTable", "SimulatedApi/JobsTable")
LOG_GROUPS = (
    "SimulatedApi/FunctionLogGroup",
    "Workflow/CreateJobFunctionLogGroup",
    "Poller/FunctionLogGroup",
    "Workflow/StateMachineLogGroup",
)
QUEUES = ("Poller/DeadLetterQueue",)


@dataclass(frozen=True, kw_only=True)
class Stage:
    removal: str  # DeletionPolicy and UpdateReplacePolicy of tables, log groups and the queue
    log_retention_days: int
    task_timeout: int
    heartbeat_timeout: int
    execution_timeout: int
    environment: dict[str, dict[str, str]]  # function path -> the variables that differ


EXPECTED = {
    "local": Stage(
        removal="Delete",
        log_retention_days=7,
        task_timeout=15 * 60,
        heartbeat_timeout=2 * 60,
        execution_timeout=15 * 60 + 5 * 60,
        environment={
            "SimulatedApi/Function": {"LOG_LEVEL": "DEBUG", "STAGE": "local", "COMPLETION_POLLS_MAX": "3"},
            "Workflow/CreateJobFunction": {
                "LOG_LEVEL": "DEBUG",
                "STAGE": "local",
                "MAX_ATTEMPTS": "10",
                "RECORD_TTL_DAYS": "1",
            },
            "Poller/Function": {"LOG_LEVEL": "DEBUG", "STAGE": "local", "POLLER_CONCURRENCY": "4"},
        },
    ),
    "aws": Stage(
        removal="Retain",
        log_retention_days=30,
        task_timeout=2 * 60 * 60,
        heartbeat_timeout=5 * 60,
        execution_timeout=2 * 60 * 60 + 5 * 60,
        environment={
            "SimulatedApi/Function": {"LOG_LEVEL": "INFO", "STAGE": "aws", "COMPLETION_POLLS_MAX": "5"},
            "Workflow/CreateJobFunction": {
                "LOG_LEVEL": "INFO",
                "STAGE": "aws",
                "MAX_ATTEMPTS": "60",
                "RECORD_TTL_DAYS": "7",
            },
            "Poller/Function": {"LOG_LEVEL": "INFO", "STAGE": "aws", "POLLER_CONCURRENCY": "8"},
        },
    ),
}

# Every difference between the two templates: (construct path, what differs). Tags and the stack
# description differ too (they name the stage); they are checked separately below.
DIFFERENCES = {
    *((path, key) for path in TABLES + LOG_GROUPS + QUEUES for key in ("DeletionPolicy", "UpdateReplacePolicy")),
    *((path, "Properties.RetentionInDays") for path in LOG_GROUPS),
    *(
        (path, f"Properties.Environment.{name}")
        for path, variables in EXPECTED["local"].environment.items()
        for name in variables
    ),
    ("Workflow/StateMachine", "Properties.DefinitionString"),
}


def _path(resource_: dict[str, Any]) -> str:
    path: str = resource_.get("Metadata", {}).get("aws:cdk:path", "")
    return path.removeprefix(f"{STACK}/").removesuffix("/Resource")


def _differences(local: dict[str, Any], aws: dict[str, Any]) -> set[tuple[str, str]]:
    """(construct path, key) for each resource attribute, property or environment variable that differs."""
    found: set[tuple[str, str]] = set()
    by_path = [
        {_path(r): r for r in t["Resources"].values() if r["Type"] != "AWS::CDK::Metadata"} for t in (local, aws)
    ]
    for path in by_path[0].keys() | by_path[1].keys():
        if path not in by_path[0] or path not in by_path[1]:
            found.add((path, "only in " + ("aws" if path in by_path[1] else "local")))
            continue
        one, other = by_path[0][path], by_path[1][path]
        for key in (one.keys() | other.keys()) - {"Properties"}:
            if one.get(key) != other.get(key):
                found.add((path, key))
        properties = [one.get("Properties", {}), other.get("Properties", {})]
        for key in (properties[0].keys() | properties[1].keys()) - {"Tags", "Environment"}:
            if properties[0].get(key) != properties[1].get(key):
                found.add((path, f"Properties.{key}"))
        variables = [p.get("Environment", {}).get("Variables", {}) for p in properties]
        for name in variables[0].keys() | variables[1].keys():
            if variables[0].get(name) != variables[1].get(name):
                found.add((path, f"Properties.Environment.{name}"))
    return found


def test_the_stages_differ_only_where_expected(synth: Synth, aws_synth: Synth) -> None:
    assert _differences(synth.template, aws_synth.template) == DIFFERENCES


def test_logical_ids_are_the_same_in_both_stages(synth: Synth, aws_synth: Synth) -> None:
    # A stage must never get a table (or anything else) under another logical ID than the other.
    assert {logical: _path(r) for logical, r in synth.template["Resources"].items() if logical != "CDKMetadata"} == {
        logical: _path(r) for logical, r in aws_synth.template["Resources"].items() if logical != "CDKMetadata"
    }


def test_the_stage_is_named_in_tags_and_description(stage_synth: Synth) -> None:
    template = stage_synth.template
    assert template["Description"] == f"Step Functions task-token callback pattern ({stage_synth.stage})"
    tagged = [r for r in template["Resources"].values() if "Tags" in r.get("Properties", {})]
    assert tagged
    for each in tagged:
        assert {"Key": "Stage", "Value": stage_synth.stage} in each["Properties"]["Tags"], _path(each)


def test_data_and_logs_are_kept_only_on_aws(stage_synth: Synth) -> None:
    removal = EXPECTED[stage_synth.stage].removal
    for path in TABLES + LOG_GROUPS + QUEUES:
        kept = resource(stage_synth.template, path)
        assert (kept["DeletionPolicy"], kept["UpdateReplacePolicy"]) == (removal, removal), path
    # Nothing else stateful escaped the stage's removal policy.
    stateful = ("AWS::DynamoDB::Table", "AWS::Logs::LogGroup", "AWS::SQS::Queue")
    assert sum(len(resources(stage_synth.template, kind)) for kind in stateful) == len(TABLES + LOG_GROUPS + QUEUES)


def test_log_retention(stage_synth: Synth) -> None:
    days = EXPECTED[stage_synth.stage].log_retention_days
    assert {path: resource(stage_synth.template, path)["Properties"]["RetentionInDays"] for path in LOG_GROUPS} == {
        path: days for path in LOG_GROUPS
    }


def test_the_workflow_waits_as_long_as_the_stage_says(stage_synth: Synth) -> None:
    expected = EXPECTED[stage_synth.stage]
    definition = state_machine_definition(stage_synth.template)
    create_job = definition["States"]["CreateJob"]
    assert (create_job["TimeoutSeconds"], create_job["HeartbeatSeconds"], definition["TimeoutSeconds"]) == (
        expected.task_timeout,
        expected.heartbeat_timeout,
        expected.execution_timeout,
    )


def test_function_timeouts_are_the_same_in_both_stages(stage_synth: Synth) -> None:
    timeouts = {
        _path(function): function["Properties"]["Timeout"]
        for function in resources(stage_synth.template, "AWS::Lambda::Function").values()
    }
    assert timeouts == {"SimulatedApi/Function": 10, "Workflow/CreateJobFunction": 15, "Poller/Function": 60}


@pytest.mark.parametrize("function", ["SimulatedApi/Function", "Workflow/CreateJobFunction", "Poller/Function"])
def test_stage_settings_reach_the_functions(stage_synth: Synth, function: str) -> None:
    variables = resource(stage_synth.template, function)["Properties"]["Environment"]["Variables"]
    expected = EXPECTED[stage_synth.stage].environment[function]
    assert {name: variables[name] for name in expected} == expected
