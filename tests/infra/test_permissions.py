"""Least privilege: who may touch which table, function and state machine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .template_helpers import (
    allowed,
    as_list,
    function_role,
    get_att,
    logical_id,
    resource,
    resources,
    role_statements,
    with_suffix,
)

TASK_RESPONSE = {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}


def _grants(template_json: dict[str, Any], function_path: str) -> set[tuple[str, str]]:
    """(action, resource) pairs, with each resource written as JSON text for hashing."""
    statements = role_statements(template_json, function_role(template_json, function_path))
    return {(action, json.dumps(target, sort_keys=True)) for action, target in allowed(statements)}


def _j(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.fixture(scope="module")
def ids(template_json: dict[str, Any]) -> dict[str, str]:
    return {
        "tokens": logical_id(template_json, "JobStore/TaskTokensTable"),
        "jobs": logical_id(template_json, "SimulatedApi/JobsTable"),
        "api": logical_id(template_json, "SimulatedApi/Function"),
        "create_job": logical_id(template_json, "Workflow/CreateJobFunction"),
        "poller": logical_id(template_json, "Poller/Function"),
        "state_machine": logical_id(template_json, "Workflow/StateMachine"),
        "dlq": logical_id(template_json, "Poller/DeadLetterQueue"),
    }


def test_no_wildcard_actions_anywhere(template_json: dict[str, Any]) -> None:
    for policy in resources(template_json, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert all("*" not in action for action in as_list(statement["Action"])), statement


def test_no_managed_policies_and_no_inline_role_policies(template_json: dict[str, Any]) -> None:
    for role in resources(template_json, "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
        assert "Policies" not in role["Properties"]


def test_only_the_poller_may_answer_task_tokens(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    state_machine = _j({"Ref": ids["state_machine"]})
    poller = _grants(template_json, "Poller/Function")
    assert {(action, state_machine) for action in TASK_RESPONSE} <= poller
    for path in ("Workflow/CreateJobFunction", "SimulatedApi/Function"):
        assert not [a for a, _ in _grants(template_json, path) if a.startswith("states:")]


def _token_table_grants(grants: set[tuple[str, str]], table_id: str) -> set[tuple[str, str]]:
    return {(action, target) for action, target in grants if table_id in target}


def test_create_job_may_only_upsert_one_token_record(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    grants = _grants(template_json, "Workflow/CreateJobFunction")
    assert _token_table_grants(grants, ids["tokens"]) == {("dynamodb:UpdateItem", _j(get_att(ids["tokens"])))}
    assert ("lambda:InvokeFunction", _j(get_att(ids["api"]))) in grants
    assert not [t for _, t in grants if ids["jobs"] in t]  # not the simulated API's own table


def test_poller_reads_due_keys_and_updates_single_records(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    grants = _grants(template_json, "Poller/Function")
    table = _j(get_att(ids["tokens"]))
    assert _token_table_grants(grants, ids["tokens"]) == {
        ("dynamodb:GetItem", table),
        ("dynamodb:UpdateItem", table),
        ("dynamodb:Query", _j(with_suffix(ids["tokens"], "/index/ByDue"))),
    }
    assert ("lambda:InvokeFunction", _j(get_att(ids["api"]))) in grants
    assert not [t for _, t in grants if ids["jobs"] in t]


def test_poller_may_describe_only_this_state_machines_executions(
    template_json: dict[str, Any], ids: dict[str, str]
) -> None:
    described = [json.loads(t) for a, t in _grants(template_json, "Poller/Function") if a == "states:DescribeExecution"]
    assert len(described) == 1
    parts = described[0]["Fn::Join"][1]
    assert ":execution:" in parts and parts[-1] == ":*"
    assert {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": ids["state_machine"]}]}]} in parts


def test_simulated_api_only_uses_its_jobs_table(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    grants = _grants(template_json, "SimulatedApi/Function")
    assert ("dynamodb:UpdateItem", _j(get_att(ids["jobs"]))) in grants
    assert not [t for _, t in grants if ids["tokens"] in t]
    assert not [a for a, _ in grants if a.startswith("lambda:")]


@pytest.mark.parametrize("path", ["SimulatedApi/Function", "Workflow/CreateJobFunction", "Poller/Function"])
def test_functions_write_logs_only_to_their_own_log_group(template_json: dict[str, Any], path: str) -> None:
    log_group = _j(get_att(logical_id(template_json, f"{path}LogGroup")))
    logs = {(a, t) for a, t in _grants(template_json, path) if a.startswith("logs:")}
    assert logs == {("logs:CreateLogStream", log_group), ("logs:PutLogEvents", log_group)}


def test_state_machine_may_invoke_only_create_job(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    role = resource(template_json, "Workflow/StateMachine")["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    invokes = {
        _j(target)
        for action, target in allowed(role_statements(template_json, role))
        if action == "lambda:InvokeFunction"
    }
    assert invokes == {
        _j(get_att(ids["create_job"])),
        _j(with_suffix(ids["create_job"], ":*")),
    }


def test_scheduler_role_invokes_the_poller_and_dead_letters(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    role_id = logical_id(template_json, "Poller/ScheduleRole")
    trust = resource(template_json, "Poller/ScheduleRole")["Properties"]["AssumeRolePolicyDocument"]
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    grants = {(a, _j(t)) for a, t in allowed(role_statements(template_json, role_id))}
    assert grants == {
        ("lambda:InvokeFunction", _j(get_att(ids["poller"]))),
        ("lambda:InvokeFunction", _j(with_suffix(ids["poller"], ":*"))),
        ("sqs:SendMessage", _j(get_att(ids["dlq"]))),
    }
