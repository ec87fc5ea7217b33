"""What differs between the `local` and `aws` stages' templates, and nothing else.

Both come from conftest's session synths. The other modules check the local stage's template in
detail and the checks every stage must pass (lint, scans, IAM); this one pins the differences a
user of the `aws` stage relies on: data kept, logs kept longer, longer waits, the task tokens
under a key of their own, a reserved poller, eight poller shards with a schedule each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import Synth
from .template_helpers import STACK, get_att, logical_id, resource, resources, state_machine_definition

# Construct paths (below the stack) of everything that holds data or logs.
TABLES = ("JobStore/TaskTokensTable", "JobStore/PollStateTable", "SimulatedApi/JobsTable")
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
    poll_schedule: dict[str, float]  # POLL_SCHEDULE (create_job and the poller), parsed
    shards: int
    customer_managed_token_key: bool
    poller_reserved_concurrency: int | None
    create_job_reserved_concurrency: int | None
    simulated_api_reserved_concurrency: int | None
    create_job_timeout: int  # seconds; the simulated API's outlasts it by 15 s


EXPECTED = {
    "local": Stage(
        removal="Delete",
        log_retention_days=7,
        task_timeout=30 * 60,
        heartbeat_timeout=10 * 60,
        execution_timeout=3362 + 30 * 60 + 5 * 60,  # throttled retries (at most 3,362 s), task, margin
        environment={
            "SimulatedApi/Function": {"LOG_LEVEL": "DEBUG", "STAGE": "local", "COMPLETION_POLLS_MAX": "3"},
            "Workflow/CreateJobFunction": {
                "LOG_LEVEL": "DEBUG",
                "STAGE": "local",
                "MAX_ATTEMPTS": "10",
                "MAX_ATTEMPTS_LIMIT": "10",
                "RECORD_TTL_DAYS": "1",
            },
            "Poller/Function": {
                "LOG_LEVEL": "DEBUG",
                "STAGE": "local",
                "POLLER_CONCURRENCY": "4",
                "CLAIM_SECONDS": "75",
                "SEND_TASK_RATE_PER_SECOND": "200",
                "JOB_API_RATE_PER_SECOND": "200",
            },
        },
        poll_schedule={
            "initial": 60.0,
            "min_initial": 60.0,
            "cap": 180.0,
            "factor": 1.5,
            "heartbeat_refresh": 180.0,  # min((600 - 2 x 120) / 2, 600 - 2 x 120 - 75)
            "lag": 120.0,
            "task_timeout": 1800.0,
            "shards": 1,
            "clock_speed": 1.0,
        },
        shards=1,
        customer_managed_token_key=False,
        poller_reserved_concurrency=None,
        create_job_reserved_concurrency=10,
        create_job_timeout=60,
        simulated_api_reserved_concurrency=None,
    ),
    "aws": Stage(
        removal="Retain",
        log_retention_days=30,
        task_timeout=8 * 60 * 60,
        heartbeat_timeout=30 * 60,
        execution_timeout=3362 + 8 * 60 * 60 + 5 * 60,
        environment={
            "SimulatedApi/Function": {"LOG_LEVEL": "INFO", "STAGE": "aws", "COMPLETION_POLLS_MAX": "5"},
            "Workflow/CreateJobFunction": {
                "LOG_LEVEL": "INFO",
                "STAGE": "aws",
                "MAX_ATTEMPTS": "40",
                # Waits of 60, 90, 135, 202.5, 303.75, 455.625, 683.4 s, then 780 s (the heartbeat
                # refresh, under the 900 s cap): 41 polls and a late run end before the 8-hour timeout.
                "MAX_ATTEMPTS_LIMIT": "41",
                "RECORD_TTL_DAYS": "7",
            },
            "Poller/Function": {
                "LOG_LEVEL": "INFO",
                "STAGE": "aws",
                "POLLER_CONCURRENCY": "8",
                "CLAIM_SECONDS": "120",
                "SEND_TASK_RATE_PER_SECOND": "250",
                "JOB_API_RATE_PER_SECOND": "500",
            },
        },
        poll_schedule={
            "initial": 60.0,
            "min_initial": 60.0,
            "cap": 900.0,
            "factor": 1.5,
            "heartbeat_refresh": 780.0,  # min((1800 - 2 x 120) / 2, 1800 - 2 x 120 - 120)
            "lag": 120.0,
            "task_timeout": 28_800.0,
            "shards": 8,
            "clock_speed": 1.0,
        },
        shards=8,
        customer_managed_token_key=True,
        poller_reserved_concurrency=10,
        create_job_reserved_concurrency=None,
        create_job_timeout=15,
        simulated_api_reserved_concurrency=None,
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
    # The poll schedule (its cap, heartbeat refresh, task timeout and shards) reaches both functions.
    ("Workflow/CreateJobFunction", "Properties.Environment.POLL_SCHEDULE"),
    ("Poller/Function", "Properties.Environment.POLL_SCHEDULE"),
    # Eight shards on AWS: seven more schedules, each naming its shard of eight; one shard locally.
    ("Poller/Schedule", "Properties.Description"),
    *((f"Poller/Schedule{shard}", "only in aws") for shard in range(1, 8)),
    # Alarmed at 80% of the task timeout.
    ("Monitoring/OldestJobAgeAlarm", "Properties.Threshold"),
    ("Monitoring/OldestJobAgeAlarm", "Properties.AlarmDescription"),
    # The task-token table's own key, the table's encryption, the two roles that may use the key
    # (their policies and the acknowledgements of the KMS grant's wildcard actions).
    ("JobStore/TaskTokensKey", "only in aws"),
    ("JobStore/TaskTokensTable", "Properties.SSESpecification"),
    ("Workflow/CreateJobFunctionRole/DefaultPolicy", "Properties.PolicyDocument"),
    ("Workflow/CreateJobFunctionRole/DefaultPolicy", "Metadata"),
    ("Poller/FunctionRole/DefaultPolicy", "Properties.PolicyDocument"),
    ("Poller/FunctionRole/DefaultPolicy", "Metadata"),
    ("Poller/Function", "Properties.ReservedConcurrentExecutions"),
    ("Workflow/CreateJobFunction", "Properties.ReservedConcurrentExecutions"),
    ("Workflow/CreateJobFunction", "Properties.Timeout"),  # a loaded local machine: 60 s there
    ("SimulatedApi/Function", "Properties.Timeout"),  # outlasts create_job's
    ("Workflow/CreateJobFunction", "Metadata"),  # checkov's skip of the reservation check: aws only
    # What the local stage skips in checkov instead (the key, the reservation): test_template_checks.
    ("JobStore/TaskTokensTable", "Metadata"),
    ("Poller/Function", "Metadata"),
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
    # A resource in both stages has one logical ID: the tables' are pinned in test_tables.
    local, aws = ({_path(r): logical for logical, r in s.template["Resources"].items()} for s in (synth, aws_synth))
    assert {path: aws[path] for path in local} == local
    assert aws.keys() - local.keys() == {"JobStore/TaskTokensKey", *(f"Poller/Schedule{n}" for n in range(1, 8))}


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


def test_function_timeouts_per_stage(stage_synth: Synth) -> None:
    # local: create_job outlasts a loaded machine; aws: 15 s. The simulated API's outlasts it, so an
    # injected delay can time create_job out after the job exists (chaos create-job-timeout).
    timeouts = {
        _path(function): function["Properties"]["Timeout"]
        for function in resources(stage_synth.template, "AWS::Lambda::Function").values()
    }
    expected = EXPECTED[stage_synth.stage].create_job_timeout
    assert timeouts == {
        "SimulatedApi/Function": expected + 15,
        "Workflow/CreateJobFunction": expected,
        "Poller/Function": 60,
    }


@pytest.mark.parametrize("function", ["SimulatedApi/Function", "Workflow/CreateJobFunction", "Poller/Function"])
def test_stage_settings_reach_the_functions(stage_synth: Synth, function: str) -> None:
    variables = resource(stage_synth.template, function)["Properties"]["Environment"]["Variables"]
    expected = EXPECTED[stage_synth.stage].environment[function]
    assert {name: variables[name] for name in expected} == expected


def test_the_task_tokens_have_a_key_of_their_own_only_on_aws(stage_synth: Synth) -> None:
    """Task tokens are bearer tokens: on AWS the table is encrypted with a customer-managed key, so
    its key policy and CloudTrail decide and record who reads them. Locally: `aws/dynamodb`."""
    template = stage_synth.template
    sse = resource(template, "JobStore/TaskTokensTable")["Properties"]["SSESpecification"]
    keys = resources(template, "AWS::KMS::Key")
    if not EXPECTED[stage_synth.stage].customer_managed_token_key:
        assert keys == {}
        assert sse == {"SSEEnabled": True}
        return
    key_id = logical_id(template, "JobStore/TaskTokensKey")
    assert keys.keys() == {key_id}
    assert sse == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": get_att(key_id)}
    key = keys[key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    # Kept at least as long as the table: a deleted key would make the retained table unreadable.
    table = resource(template, "JobStore/TaskTokensTable")
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == (
        table["DeletionPolicy"],
        table["UpdateReplacePolicy"],
    )
    # The key policy only delegates to the account's IAM policies (CDK's default); the grants in
    # test_permissions are the only ones.
    (statement,) = key["Properties"]["KeyPolicy"]["Statement"]
    root = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]}
    assert statement == {"Action": "kms:*", "Effect": "Allow", "Principal": {"AWS": root}, "Resource": "*"}


def test_the_jobs_table_keeps_the_aws_managed_key(stage_synth: Synth) -> None:
    sse = resource(stage_synth.template, "SimulatedApi/JobsTable")["Properties"]["SSESpecification"]
    assert sse == {"SSEEnabled": True}


def test_the_poll_state_table_keeps_the_aws_managed_key_in_every_stage(stage_synth: Synth) -> None:
    """No token in it (poll times, attempts, shard leases): checkov's CKV_AWS_119 is skipped with that reason."""
    sse = resource(stage_synth.template, "JobStore/PollStateTable")["Properties"]["SSESpecification"]
    assert sse == {"SSEEnabled": True}


def test_the_poll_schedule_reaches_both_functions(stage_synth: Synth) -> None:
    from common.schedule import PollSchedule
    from stacks.config import load_stage_config

    expected = EXPECTED[stage_synth.stage].poll_schedule
    for function in ("Workflow/CreateJobFunction", "Poller/Function"):
        raw = resource(stage_synth.template, function)["Properties"]["Environment"]["Variables"]["POLL_SCHEDULE"]
        assert json.loads(raw) == expected, function
        assert PollSchedule.from_json(raw) == load_stage_config(stage_synth.stage).poll_schedule, function


def test_one_poller_schedule_per_shard(stage_synth: Synth) -> None:
    shards = EXPECTED[stage_synth.stage].shards
    schedules = resources(stage_synth.template, "AWS::Scheduler::Schedule")
    assert len(schedules) == shards
    inputs = sorted(int(json.loads(s["Properties"]["Target"]["Input"])["shard"]) for s in schedules.values())
    assert inputs == list(range(shards))
    # A run per shard at once, and one started by hand: the reservation (if any) leaves room for them.
    reserved = EXPECTED[stage_synth.stage].poller_reserved_concurrency
    assert reserved is None or reserved >= shards + 1


def test_reserved_concurrency_per_stage(stage_synth: Synth) -> None:
    # aws: the poller, so every shard's run (and one started by hand) always starts; local: none.
    reserved = {
        _path(function): function["Properties"].get("ReservedConcurrentExecutions")
        for function in resources(stage_synth.template, "AWS::Lambda::Function").values()
    }
    assert reserved == {
        "SimulatedApi/Function": EXPECTED[stage_synth.stage].simulated_api_reserved_concurrency,
        "Workflow/CreateJobFunction": EXPECTED[stage_synth.stage].create_job_reserved_concurrency,
        "Poller/Function": EXPECTED[stage_synth.stage].poller_reserved_concurrency,
    }
