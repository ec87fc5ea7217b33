"""callbackctl without a deployment: help on every command, one-line errors with the command's usage,
and the exit codes (2 usage, 3 unreachable) for what a new user types."""

from __future__ import annotations

import subprocess
import sys

import pytest

from callbackctl import __version__
from callbackctl.cli.app import build_parser, main
from callbackctl.deployment.targets import resolve_target
from callbackctl.errors import UsageError

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port


def run(argv: list[str]) -> int:
    """The exit code as a shell sees it, whether argparse or the command refused the input."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_every_command_is_listed() -> None:
    expected = {"demo", "deploy", "destroy", "start", "watch", "history", "poll", "monitor", "logs", "cleanup"}
    assert expected | {"template-summary", "cost", "cost-plot", "bench"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_one_line_description_and_the_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: callbackctl {command}")
    description = out.split("\n\n")[1]
    assert description[0].isupper() and description.splitlines()[0].endswith(".")
    assert "exit codes:" in out and "130  interrupted" in out


def test_top_level_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for line in ("0    success", "1    ran, but", "2    usage error", "3    target unreachable", "4    timed out"):
        assert line in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"callbackctl {__version__}"


def test_installed_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "callbackctl", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "monitor" in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["watch", "arn:aws:states:us-east-1:123:execution:x"], "malformed execution ARN"),
        (["watch", "not an arn"], "contains ' ', which Step Functions rejects"),
        (["history", "x" * 81], "has 81 characters; Step Functions allows 80"),
        (["poll", ""], "the job id is empty"),
        (["poll", "   "], "the job id is empty"),
        (["monitor", "--recent", "-3"], "argument --recent: must be at least 1"),
        (["monitor", "--recent", "many"], "argument --recent: 'many' is not a whole number"),
        (["monitor", "--watch", "-1"], "argument --watch: must be a number greater than 0"),
        (["monitor", "--watch", "0.1"], "argument --watch: must be at least 0.5 seconds"),
        (["start", "--count", "0"], "argument --count: must be at least 1"),
        (["start", "--count", "10001"], "argument --count: must be at most 10,000"),
        (["start", "--count", "many"], "argument --count: 'many' is not a whole number"),
        (["start", "--scenario", "failure", "--input", "{}"], "not allowed with argument"),
        (["start", "--prefix", "my run"], "--prefix 'my run' contains ' '"),
        (["start", "--prefix", "a/b"], "contains '/'"),
        (["start", "--prefix", "p" * 75], "--prefix has 75 characters"),
        (["start", "--input", "{oops"], "--input is not valid JSON"),
        (["start", "--input", "[1, 2]"], "--input must be a JSON object"),
        (["start", "--input-file", "/no/such/file.json"], "--input-file: cannot read /no/such/file.json"),
        (["start", "--input", "file:///no/such/file.json"], "--input: cannot read /no/such/file.json"),
        (["start", "--timeout", "-5"], "argument --timeout: must be a number greater than 0"),
        (["start", "--region", "eu-west-1"], "--region and --profile are for --target aws"),
        (["monitor", "--endpoint", "localhost:4566"], "is not a URL"),
        (["monitor", "--target", "aws", "--endpoint", "http://x"], "--endpoint is for the local targets"),
        (["logs", "poller", "--since", "soon"], "cannot parse duration 'soon'"),
        (["demo", "--clock-speed", "0"], "argument --clock-speed: must be a number greater than 0"),
        (["bench", "--polls", "0,x"], "argument --polls"),
        (["bench", "--pending", "100000"], "must be at most 20,000, got 100,000"),
    ],
)
def test_bad_input_is_one_line_after_the_commands_usage(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: callbackctl {argv[0]}")
    last = err.rstrip("\n").splitlines()[-1]
    assert last.startswith(f"callbackctl {argv[0]}: error: ") and message in last
    assert "Traceback" not in err


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_option_is_reported_with_the_commands_usage(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    required = {  # so that the unknown option is the only problem
        "poll": ["some-job"],
        "history": ["run-abc-000"],
        "logs": ["poller"],
        "capacity": ["--waiting", "10", "--job-duration", "1h"],
    }
    argv = [command, *required.get(command, []), "--no-such-option"]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: callbackctl {command} ")
    last = err.rstrip("\n").splitlines()[-1]
    assert last == f"callbackctl {command}: error: unrecognized arguments: --no-such-option"


@pytest.mark.parametrize(
    "argv",
    [
        ["monitor"],
        ["watch"],
        ["start", "--count", "2"],
        ["poll", "some-job"],
        ["history", "run-abc-000"],
        ["logs", "poller"],
        ["cleanup"],
    ],
)
def test_an_unreachable_target_exits_3_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*argv, "--endpoint", UNREACHABLE]) == 3
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"callbackctl {argv[0]}: error: cannot reach {UNREACHABLE}/: start the local cloud with `make localcloud-start`"
    ]


def test_a_localstack_target_names_its_own_remedy(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["monitor", "--target", "localstack", "--endpoint", UNREACHABLE]) == 3
    assert "docker compose up -d" in capsys.readouterr().err


def test_cleanup_on_aws_needs_confirmation(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert run(["cleanup", "--target", "aws"]) == 2
    assert "add --yes" in capsys.readouterr().err


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


def test_region_and_profile_select_the_aws_target(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    config = tmp_path / "config"
    config.write_text("[profile demo]\nregion = ap-southeast-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert resolve_target("aws", region="eu-central-1").region == "eu-central-1"
    profiled = resolve_target("aws", profile="demo")
    assert (profiled.region, profiled.profile) == ("ap-southeast-2", "demo")
    env = profiled.cdk_env()
    assert (env["AWS_PROFILE"], env["AWS_REGION"]) == ("demo", "ap-southeast-2")
    assert profiled.client("sts").meta.region_name == "ap-southeast-2"
    with pytest.raises(UsageError, match="no AWS profile 'nope'"):
        resolve_target("aws", profile="nope")
    with pytest.raises(UsageError, match="no AWS region: pass --region"):
        resolve_target("aws")
