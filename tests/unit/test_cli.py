"""callbackctl without a deployment: help on every command, input errors, target selection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from callbackctl.__main__ import build_parser, main
from callbackctl.executions import SCENARIOS, scenario_input
from callbackctl.ops import template_summary
from callbackctl.targets import UsageError, resolve_target

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def test_every_command_is_listed() -> None:
    assert {"demo", "deploy", "destroy", "start", "watch", "poll", "monitor", "cleanup", "cost"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: callbackctl {command}") and len(out.splitlines()) > 3


def test_installed_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "callbackctl", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "monitor" in result.stdout


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "--input is not valid JSON"),
        ("[1, 2]", "--input must be a JSON object"),
    ],
)
def test_bad_input_option_says_what_to_fix(raw: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        scenario_input(None, raw)


def test_scenarios_and_default() -> None:
    assert scenario_input(None, None) == SCENARIOS["success"]
    assert scenario_input("failure", None)["simulate"]["outcome"] == "FAIL"
    assert scenario_input(None, '{"maxAttempts": 3}') == {"maxAttempts": 3}
    with pytest.raises(UsageError, match="unknown scenario 'nope'"):
        scenario_input("nope", None)


def test_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    local = resolve_target("localcloud")
    assert local.is_local and local.cdk_command == "cdklocal" and local.stage == "local"
    env = local.cdk_env()
    assert env["AWS_ENDPOINT_URL"] == env["AWS_ENDPOINT_URL_S3"] == local.endpoint_url
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")  # left over from `localcloud env`
    aws = resolve_target("aws")
    assert not aws.is_local and aws.cdk_command == "cdk" and aws.region == "eu-west-1" and aws.stage == "aws"
    assert "AWS_ENDPOINT_URL" not in aws.cdk_env()
    assert aws.client("sts").meta.endpoint_url == "https://sts.eu-west-1.amazonaws.com"
    with pytest.raises(UsageError, match="unknown target 'gcp'"):
        resolve_target("gcp")


def test_unreachable_local_cloud_gives_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["monitor", "--endpoint", "http://127.0.0.1:9"])
    assert code == 2
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_cleanup_on_aws_needs_confirmation(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert main(["cleanup", "--target", "aws"]) == 2
    assert "add --yes" in capsys.readouterr().err


def test_template_summary(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="run `make synth` first"):
        template_summary(tmp_path)
    (tmp_path / "CallbackPattern.template.json").write_text(
        json.dumps(
            {
                "Resources": {"A": {"Type": "AWS::DynamoDB::Table"}, "B": {"Type": "AWS::DynamoDB::Table"}},
                "Outputs": {"StateMachineArn": {}},
            }
        )
    )
    summary = template_summary(tmp_path)
    assert "2 resources" in summary and "2  AWS::DynamoDB::Table" in summary and "StateMachineArn" in summary


def test_lambda_error_causes_are_shown_as_their_message() -> None:
    from callbackctl.executions import readable_cause

    lambda_cause = json.dumps({"errorMessage": "maxAttempts must be ...", "errorType": "InvalidJobInput"})
    assert readable_cause(lambda_cause) == "maxAttempts must be ..."
    assert readable_cause("plain text cause") == "plain text cause"
    assert readable_cause(None) == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["start", "--count", "0"], "must be at least 1"),
        (["start", "--count", "many"], "is not a whole number"),
        (["start", "--scenario", "failure", "--input", "{}"], "not allowed with argument"),
    ],
)
def test_start_rejects_conflicting_or_empty_options(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
