"""Least privilege, in each stage: who may do what to which resource.

`test_every_grant` lists every (action, resource) pair each role is allowed, so a new grant or a
widened resource shows up in review; the tests after it spell out why the important ones matter.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Synth
from .template_helpers import (
    STACK,
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
DYNAMODB_READ_WRITE = {
    f"dynamodb:{action}"
    for action in (
        "BatchGetItem",
        "BatchWriteItem",
        "ConditionCheckItem",
        "DeleteItem",
        "DescribeTable",
        "GetItem",
        "GetRecords",
        "GetShardIterator",
        "PutItem",
        "Query",
        "Scan",
        "UpdateItem",
    )
}
LOG_WRITE = {"logs:CreateLogStream", "logs:PutLogEvents"}
# What `grant_table_actions` adds for a table under a customer-managed key: the use of that key.
KEY_ENCRYPT_DECRYPT = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"}
# The only wildcard actions, acknowledged to cdk-nag one by one, and only ever on that key.
KEY_WILDCARD_ACTIONS = {"kms:GenerateDataKey*", "kms:ReEncrypt*"}
INVOKE = {"lambda:InvokeFunction"}
# Actions IAM cannot restrict to a resource: they only ever appear with "*".
XRAY_WRITE = {"xray:PutTelemetryRecords", "xray:PutTraceSegments"}
STATE_MACHINE_LOGS_AND_TRACES = XRAY_WRITE | {
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
}
NO_RESOURCE_LEVEL_PERMISSIONS = STATE_MACHINE_LOGS_AND_TRACES


@pytest.fixture(scope="module")
def template_json(stage_synth: Synth) -> dict[str, Any]:
    """Every test in this module runs on each stage's template."""
    return stage_synth.template


def _path(template_json: dict[str, Any], logical: str) -> str:
    path: str = template_json["Resources"][logical]["Metadata"]["aws:cdk:path"]
    return path.removeprefix(f"{STACK}/").removesuffix("/Resource")


def _resource_name(template_json: dict[str, Any], target: Any) -> str:
    """A policy resource written with construct paths, e.g. `JobStore/TaskTokensTable/index/*`;
    pseudo parameters as `<AWS::Region>`, other functions as `Select(6, Split(:, ...))`."""
    if isinstance(target, str | int):
        return str(target)
    if isinstance(target, list):
        return ", ".join(_resource_name(template_json, item) for item in target)
    ((function, argument),) = target.items()
    if function == "Ref":
        return f"<{argument}>" if argument.startswith("AWS::") else _path(template_json, argument)
    if function == "Fn::GetAtt":
        logical, attribute = argument
        assert attribute == "Arn", target
        return _path(template_json, logical)
    if function == "Fn::Join":
        separator, parts = argument
        return str(separator).join(_resource_name(template_json, part) for part in parts)
    return f"{function.removeprefix('Fn::')}({_resource_name(template_json, argument)})"


def _granted(template_json: dict[str, Any], role_path: str) -> dict[str, set[str]]:
    """resource name -> the actions a role may take on it."""
    granted: dict[str, set[str]] = {}
    for action, target in allowed(role_statements(template_json, logical_id(template_json, role_path))):
        granted.setdefault(_resource_name(template_json, target), set()).add(action)
    return granted


def _expected_grants(stage: str) -> dict[str, dict[str, set[str]]]:
    # On AWS the task-token table has a key of its own; its two users may encrypt and decrypt with it.
    token_key = {"JobStore/TaskTokensKey": KEY_ENCRYPT_DECRYPT} if stage == "aws" else {}
    return {
        "SimulatedApi/FunctionRole": {
            "SimulatedApi/FunctionLogGroup": LOG_WRITE,
            "*": XRAY_WRITE,
            "SimulatedApi/JobsTable": DYNAMODB_READ_WRITE,
        },
        "Workflow/CreateJobFunctionRole": {
            "Workflow/CreateJobFunctionLogGroup": LOG_WRITE,
            "*": XRAY_WRITE,
            # GetItem: a refused token write reads the record (final job, or a later attempt's token)
            "JobStore/TaskTokensTable": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
            "JobStore/PollStateTable": {"dynamodb:UpdateItem"},
            "SimulatedApi/Function": INVOKE,
            "SimulatedApi/Function:*": INVOKE,
            **token_key,
        },
        "Poller/FunctionRole": {
            "Poller/FunctionLogGroup": LOG_WRITE,
            "*": XRAY_WRITE,
            "JobStore/TaskTokensTable": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
            "JobStore/PollStateTable": {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
            "JobStore/PollStateTable/index/ByDue": {"dynamodb:Query"},
            "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            "Select(6, Split(:, Workflow/StateMachine)):*": {"states:DescribeExecution"},
            "SimulatedApi/Function": INVOKE,
            "SimulatedApi/Function:*": INVOKE,
            "Workflow/StateMachine": TASK_RESPONSE,
            **token_key,
        },
        "Workflow/StateMachine/Role": {
            "Workflow/CreateJobFunction": INVOKE,
            "Workflow/CreateJobFunction:*": INVOKE,
            "*": STATE_MACHINE_LOGS_AND_TRACES,
        },
        "Poller/ScheduleRole": {
            "Poller/Function": INVOKE,
            "Poller/Function:*": INVOKE,
            "Poller/DeadLetterQueue": {"sqs:SendMessage"},
        },
    }


def test_every_grant(stage_synth: Synth, template_json: dict[str, Any]) -> None:
    roles = {_path(template_json, logical) for logical in resources(template_json, "AWS::IAM::Role")}
    expected = _expected_grants(stage_synth.stage)
    assert roles == expected.keys()
    assert {role: _granted(template_json, role) for role in sorted(roles)} == expected


def test_wildcard_resources_only_where_iam_has_no_resource_level_permissions(template_json: dict[str, Any]) -> None:
    """`*` appears only with actions that accept nothing else, and cdk-nag's finding on it is
    acknowledged on that very policy (with the reason in the template)."""
    for logical, policy in resources(template_json, "AWS::IAM::Policy").items():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        wildcard = {action for action, target in allowed(statements) if target == "*"}
        assert wildcard <= NO_RESOURCE_LEVEL_PERMISSIONS, _path(template_json, logical)
        acknowledged = {rule["id"] for rule in policy["Metadata"].get("cdk_nag", {}).get("rules_to_suppress", [])}
        assert bool(wildcard) == ("AwsSolutions-IAM5[Resource::*]" in acknowledged), _path(template_json, logical)


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
        "poll": logical_id(template_json, "JobStore/PollStateTable"),
        "jobs": logical_id(template_json, "SimulatedApi/JobsTable"),
        "api": logical_id(template_json, "SimulatedApi/Function"),
        "create_job": logical_id(template_json, "Workflow/CreateJobFunction"),
        "poller": logical_id(template_json, "Poller/Function"),
        "state_machine": logical_id(template_json, "Workflow/StateMachine"),
        "dlq": logical_id(template_json, "Poller/DeadLetterQueue"),
    }


def test_no_wildcard_actions_but_the_token_keys(template_json: dict[str, Any]) -> None:
    keys = [get_att(key) for key in resources(template_json, "AWS::KMS::Key")]
    for policy in resources(template_json, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            wildcards = {action for action in as_list(statement["Action"]) if "*" in action}
            if wildcards:
                assert wildcards <= KEY_WILDCARD_ACTIONS and as_list(statement["Resource"]) == keys, statement


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


def _table_grants(grants: set[tuple[str, str]], table_id: str) -> set[tuple[str, str]]:
    return {(action, target) for action, target in grants if table_id in target}


def test_create_job_may_only_upsert_one_token_record_and_one_poll_state(
    template_json: dict[str, Any], ids: dict[str, str]
) -> None:
    grants = _grants(template_json, "Workflow/CreateJobFunction")
    # GetItem: when its conditional token write is refused, create_job reads the record to tell a
    # final job (JobRecordFinal) from a later attempt's token (SUPERSEDED).
    tokens = _j(get_att(ids["tokens"]))
    assert _table_grants(grants, ids["tokens"]) == {("dynamodb:GetItem", tokens), ("dynamodb:UpdateItem", tokens)}
    assert _table_grants(grants, ids["poll"]) == {("dynamodb:UpdateItem", _j(get_att(ids["poll"])))}
    assert ("lambda:InvokeFunction", _j(get_att(ids["api"]))) in grants
    assert not [t for _, t in grants if ids["jobs"] in t]  # not the simulated API's own table


def test_poller_reads_due_jobs_and_updates_single_records(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    grants = _grants(template_json, "Poller/Function")
    tokens, poll = _j(get_att(ids["tokens"])), _j(get_att(ids["poll"]))
    # The token record: read, and conditionally updated (decisions and final statuses, in
    # transactions with the poll state). Never deleted: it keeps what became of the job.
    assert _table_grants(grants, ids["tokens"]) == {
        ("dynamodb:GetItem", tokens),
        ("dynamodb:UpdateItem", tokens),
    }
    # The poll state: claimed and released one item at a time (shard leases too), deleted when
    # the job ends; due jobs come from the ByDue index only. TransactWriteItems needs no action
    # of its own: each of its items is authorised as the UpdateItem or DeleteItem it is.
    assert _table_grants(grants, ids["poll"]) == {
        ("dynamodb:GetItem", poll),
        ("dynamodb:UpdateItem", poll),
        ("dynamodb:DeleteItem", poll),
        ("dynamodb:Query", _j(with_suffix(ids["poll"], "/index/ByDue"))),
    }
    assert ("lambda:InvokeFunction", _j(get_att(ids["api"]))) in grants
    assert not [t for _, t in grants if ids["jobs"] in t]


def test_nobody_scans_or_batch_reads_the_job_tables(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    """Due jobs come from a Query of one shard's index, never a Scan; nothing reads or writes the
    job tables in bulk, and nothing may query the task tokens table (it has no index)."""
    bulk = {"dynamodb:Scan", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:PutItem"}
    for logical in resources(template_json, "AWS::IAM::Role"):
        for action, target in allowed(role_statements(template_json, logical)):
            text = json.dumps(target)
            if ids["tokens"] in text or ids["poll"] in text:
                assert action not in bulk, (_path(template_json, logical), action, text)
            if ids["tokens"] in text:
                assert action != "dynamodb:Query", (_path(template_json, logical), text)
    # The only Scan in the stack is the simulated API's, on its own table.
    scans = {
        (_path(template_json, logical), _resource_name(template_json, target))
        for logical in resources(template_json, "AWS::IAM::Role")
        for action, target in allowed(role_statements(template_json, logical))
        if action == "dynamodb:Scan"
    }
    assert scans == {("SimulatedApi/FunctionRole", "SimulatedApi/JobsTable")}


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
    assert not [t for _, t in grants if ids["tokens"] in t or ids["poll"] in t]
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
