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


def test_create_job_environment(template_json: dict[str, Any]) -> None:
    assert _environment(template_json, "Workflow/CreateJobFunction") == {
        "LOG_LEVEL": "DEBUG",
        "STAGE": "local",
        "TASK_TOKENS_TABLE_NAME": {"Ref": logical_id(template_json, "JobStore/TaskTokensTable")},
        "SIMULATED_API_FUNCTION_NAME": {"Ref": logical_id(template_json, "SimulatedApi/Function")},
        "MAX_ATTEMPTS": "10",
        "MAX_ATTEMPTS_LIMIT": "14",  # 15 polls a minute apart would reach the 15-minute task timeout
        "MAX_INPUT_BYTES": "65536",
        "RECORD_TTL_DAYS": "1",
    }


def test_poller_environment(template_json: dict[str, Any]) -> None:
    assert _environment(template_json, "Poller/Function") == {
        "LOG_LEVEL": "DEBUG",
        "STAGE": "local",
        "TASK_TOKENS_TABLE_NAME": {"Ref": logical_id(template_json, "JobStore/TaskTokensTable")},
        "DUE_INDEX_NAME": "ByDue",
        "SIMULATED_API_FUNCTION_NAME": {"Ref": logical_id(template_json, "SimulatedApi/Function")},
        "POLLER_CONCURRENCY": "4",
        "CLAIM_SECONDS": "75",
        "POLL_INTERVAL_SECONDS": "60",
    }


def test_timeouts_and_memory(template_json: dict[str, Any]) -> None:
    sizes = {
        path: (
            resource(template_json, path)["Properties"]["Timeout"],
            resource(template_json, path)["Properties"]["MemorySize"],
        )
        for path in FUNCTIONS
    }
    assert sizes == {
        "SimulatedApi/Function": (30, 128),  # outlasts create_job (15 s): see stacks/simulated_api.py
        "Workflow/CreateJobFunction": (15, 128),
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
