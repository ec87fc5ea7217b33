"""The three functions: handlers, shared defaults, environment contract (docs/design.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import FileSystem

from stacks.lambda_function import ASSET_EXCLUDES

from .conftest import Synth
from .template_helpers import logical_id, resource, resources

FUNCTIONS = {
    "SimulatedApi/Function": "simulated_api.handler.lambda_handler",
    "Workflow/CreateJobFunction": "create_job.handler.lambda_handler",
    "Poller/Function": "poller.handler.lambda_handler",
}


def test_exactly_the_three_functions(template_json: dict[str, Any]) -> None:
    assert len(resources(template_json, "AWS::Lambda::Function")) == len(FUNCTIONS)


@pytest.mark.parametrize(("path", "handler"), FUNCTIONS.items())
def test_function_defaults(template_json: dict[str, Any], path: str, handler: str) -> None:
    properties = resource(template_json, path)["Properties"]
    assert properties["Handler"] == handler
    assert properties["Runtime"] == "python3.13"
    assert properties["Architectures"] == ["x86_64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert "FunctionName" not in properties
    # Each function logs to its own log group, kept a week and deleted with the local stack.
    log_group_id = properties["LoggingConfig"]["LogGroup"]["Ref"]
    assert log_group_id == logical_id(template_json, f"{path}LogGroup")
    log_group = template_json["Resources"][log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 7
    assert log_group["DeletionPolicy"] == "Delete"


def test_all_functions_share_one_code_asset(synth: Synth) -> None:
    keys = {
        function["Properties"]["Code"]["S3Key"]
        for function in resources(synth.template, "AWS::Lambda::Function").values()
    }
    assert len(keys) == 1
    manifest = json.loads((synth.outdir / "CallbackPattern.assets.json").read_text())
    [code_asset] = [asset for hash_, asset in manifest["files"].items() if f"{hash_}.zip" in keys]
    staged = synth.outdir / code_asset["source"]["path"]
    assert not [p for p in staged.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"]
    assert (staged / "poller" / "handler.py").is_file()
    assert not (staged / "requirements.txt").exists()  # built into the dependencies layer instead


def test_asset_excludes_keep_bytecode_out_of_the_package(tmp_path: Path) -> None:
    (tmp_path / "poller").mkdir()
    (tmp_path / "poller" / "handler.py").write_text("def lambda_handler(event, context): ...\n")
    before = FileSystem.fingerprint(str(tmp_path), exclude=list(ASSET_EXCLUDES))
    (tmp_path / "poller" / "__pycache__").mkdir()
    (tmp_path / "poller" / "__pycache__" / "handler.cpython-313.pyc").write_bytes(b"\0")
    (tmp_path / "stray.pyc").write_bytes(b"\0")
    assert FileSystem.fingerprint(str(tmp_path), exclude=list(ASSET_EXCLUDES)) == before
    (tmp_path / "poller" / "logic.py").write_text("X = 1\n")
    assert FileSystem.fingerprint(str(tmp_path), exclude=list(ASSET_EXCLUDES)) != before


def _environment(template_json: dict[str, Any], path: str) -> dict[str, Any]:
    return dict(resource(template_json, path)["Properties"]["Environment"]["Variables"])


def test_simulated_api_environment(template_json: dict[str, Any]) -> None:
    assert _environment(template_json, "SimulatedApi/Function") == {
        "LOG_LEVEL": "DEBUG",
        "STAGE": "local",
        "JOBS_TABLE_NAME": {"Ref": logical_id(template_json, "SimulatedApi/JobsTable")},
        "COMPLETION_POLLS_MIN": "2",
        "COMPLETION_POLLS_MAX": "3",
    }


# The local stage's poll schedule in real seconds (stacks/config.py, common/schedule.py): first
# wait 60 s, backed off by 1.5 up to 180 s; a heartbeat owed after 180 s; late runs up to 120 s.
LOCAL_POLL_SCHEDULE = {
    "initial": 60.0,
    "min_initial": 60.0,
    "cap": 180.0,
    "factor": 1.5,
    "heartbeat_refresh": 180.0,
    "lag": 120.0,
    "task_timeout": 1800.0,
    "shards": 1,
    "clock_speed": 1.0,
}


def test_create_job_environment(template_json: dict[str, Any]) -> None:
    variables = _environment(template_json, "Workflow/CreateJobFunction")
    assert json.loads(variables.pop("POLL_SCHEDULE")) == LOCAL_POLL_SCHEDULE
    assert variables == {
        "LOG_LEVEL": "DEBUG",
        "STAGE": "local",
        "TASK_TOKENS_TABLE_NAME": {"Ref": logical_id(template_json, "JobStore/TaskTokensTable")},
        "POLL_STATE_TABLE_NAME": {"Ref": logical_id(template_json, "JobStore/PollStateTable")},
        "SIMULATED_API_FUNCTION_NAME": {"Ref": logical_id(template_json, "SimulatedApi/Function")},
        "MAX_ATTEMPTS": "10",
        # 10 backed-off polls (60, 90, 135, then 180 s) and a late run end by 1665 s; 11 would
        # reach the 30-minute task timeout.
        "MAX_ATTEMPTS_LIMIT": "10",
        "MAX_INPUT_BYTES": "65536",
        "RECORD_TTL_DAYS": "1",
    }


def test_poller_environment(template_json: dict[str, Any]) -> None:
    variables = _environment(template_json, "Poller/Function")
    assert json.loads(variables.pop("POLL_SCHEDULE")) == LOCAL_POLL_SCHEDULE
    assert variables == {
        "LOG_LEVEL": "DEBUG",
        "STAGE": "local",
        "TASK_TOKENS_TABLE_NAME": {"Ref": logical_id(template_json, "JobStore/TaskTokensTable")},
        "POLL_STATE_TABLE_NAME": {"Ref": logical_id(template_json, "JobStore/PollStateTable")},
        "DUE_INDEX_NAME": "ByDue",
        "SIMULATED_API_FUNCTION_NAME": {"Ref": logical_id(template_json, "SimulatedApi/Function")},
        "POLLER_CONCURRENCY": "4",
        "CLAIM_SECONDS": "75",
        "SEND_TASK_RATE_PER_SECOND": "200",
        "JOB_API_RATE_PER_SECOND": "200",
    }


@pytest.mark.parametrize("path", ["Workflow/CreateJobFunction", "Poller/Function"])
def test_poll_schedule_is_one_the_functions_can_read(
    template_json: dict[str, Any], monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The variable parses with the functions' own reader into the stage's schedule."""
    from common.config import env_poll_schedule
    from stacks.config import load_stage_config

    monkeypatch.setenv("POLL_SCHEDULE", _environment(template_json, path)["POLL_SCHEDULE"])
    assert env_poll_schedule() == load_stage_config("local").poll_schedule


def test_timeouts_and_memory(template_json: dict[str, Any]) -> None:
    sizes = {
        path: (
            resource(template_json, path)["Properties"]["Timeout"],
            resource(template_json, path)["Properties"]["MemorySize"],
        )
        for path in FUNCTIONS
    }
    assert sizes == {
        "SimulatedApi/Function": (75, 128),  # outlasts create_job's: see stacks/simulated_api.py
        "Workflow/CreateJobFunction": (60, 128),  # local stage: a loaded machine (stacks/config.py)
        "Poller/Function": (60, 256),
    }


def test_poller_is_not_retried_by_lambda(template: Any, template_json: dict[str, Any]) -> None:
    # The next scheduled run is the retry; Lambda's async retries would only overlap it.
    template.resource_count_is("AWS::Lambda::EventInvokeConfig", 1)
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": logical_id(template_json, "Poller/Function")},
            "MaximumRetryAttempts": 0,
        },
    )
