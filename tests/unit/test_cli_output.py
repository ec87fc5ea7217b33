"""What callbackctl prints: JSON with one key style and numbers as numbers, colour only on a terminal,
progress only on a terminal, execution input from a file or stdin, names Step Functions accepts."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from callbackctl.cli.inputs import SCENARIOS, scenario_input
from callbackctl.cli.output import camel, jsonable, paint, progress, to_json
from callbackctl.deployment.executions import (
    ExecutionResult,
    check_execution_name,
    execution_arn,
    execution_names,
    readable_cause,
)
from callbackctl.errors import UsageError


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@dataclass
class Example:
    execution_arn: str
    end_state: str | None
    seconds: float


def test_keys_are_camel_case_and_data_keys_are_kept() -> None:
    data = jsonable({"end_state": "JobSucceeded", "byStatus": {"MAX_ATTEMPTS": 1, "POLLING": 2}, "lambda_gb_s": 1.0})
    assert data == {"endState": "JobSucceeded", "byStatus": {"MAX_ATTEMPTS": 1, "POLLING": 2}, "lambdaGbS": 1.0}
    assert camel("arn:aws:states:us-east-1:1:execution:sm:run_1") == "arn:aws:states:us-east-1:1:execution:sm:run_1"


def test_numbers_stay_numbers_without_float_noise() -> None:
    data = json.loads(
        to_json({"unit": 0.2 / 1_000_000, "count": Decimal("15"), "ratio": Decimal("0.5"), "nan": float("nan")})
    )
    assert data == {"unit": 2e-07, "count": 15, "ratio": 0.5, "nan": None}
    assert "2.0000000000000002e-07" not in to_json(0.2 / 1_000_000)


def test_dataclasses_dates_and_tuples_become_plain_json() -> None:
    moment = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    data = jsonable([Example("arn:x", None, 1.5), {"at": moment, "pair": (1, 2)}])
    assert data == [
        {"executionArn": "arn:x", "endState": None, "seconds": 1.5},
        {"at": "2026-12-01T06:30:00+00:00", "pair": [1, 2]},
    ]


def test_execution_results_use_the_aws_key_names() -> None:
    result = ExecutionResult(
        name="run-1", execution_arn="arn:x", status="FAILED", end_state="JobFailed", error="JobFailed",
        cause="c", output=None, seconds=2.0,
    )  # fmt: skip
    assert set(jsonable(result)) == {
        "name",
        "executionArn",
        "status",
        "endState",
        "error",
        "cause",
        "output",
        "seconds",
    }


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert paint("FAILED", "red", Terminal()) == "\033[31mFAILED\033[0m"
    assert paint("FAILED", "red", io.StringIO()) == "FAILED"  # piped
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint("FAILED", "red", Terminal()) == "FAILED"


def test_progress_writes_nothing_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with progress() as tasks:
        bar = tasks("executions started", 3)
        bar(1)
        bar.set(3, "done")
    assert capsys.readouterr() == ("", "")


def test_progress_draws_a_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with progress() as tasks:
        bar = tasks("executions started", 4)
        bar(4)
    assert "executions started" in terminal.getvalue() and "4/4" in terminal.getvalue()


def test_input_from_the_command_line_a_file_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert scenario_input(None) == SCENARIOS["success"]
    assert scenario_input("failure")["simulate"]["outcome"] == "FAIL"
    assert scenario_input(None, '{"maxAttempts": 3}') == {"maxAttempts": 3}
    path = tmp_path / "input.json"
    path.write_text('{"payload": {"order": 7}}')
    assert scenario_input(None, None, str(path)) == {"payload": {"order": 7}}
    assert scenario_input(None, f"file://{path}") == {"payload": {"order": 7}}
    monkeypatch.setattr("sys.stdin", io.StringIO('{"jobName": "from-stdin"}'))
    assert scenario_input(None, "-") == {"jobName": "from-stdin"}
    monkeypatch.setattr("sys.stdin", io.StringIO('{"jobName": "from-stdin"}'))
    assert scenario_input(None, None, "-") == {"jobName": "from-stdin"}
    with pytest.raises(UsageError, match=r"--input-file .*input.json is not valid JSON \(Expecting value at line 1"):
        path.write_text("")
        scenario_input(None, None, str(path))
    with pytest.raises(UsageError, match="larger than the 256 KB"):
        scenario_input(None, json.dumps({"payload": {"x": "y" * 300_000}}))
    with pytest.raises(UsageError, match="unknown scenario 'nope'"):
        scenario_input("nope")


@pytest.mark.parametrize("name", ["run-abc-000", "a" * 80, "Under_score-1", "ünïcode"])
def test_names_step_functions_accepts(name: str) -> None:
    check_execution_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "is empty"),
        ("my run", "contains ' '"),
        ("a" * 81, "has 81 characters"),
        ("tab\there", "contains '\\t'"),
        ("a:b", "contains ':'"),
        ("x*", "contains '*'"),
        ("{x}", "contains '{'"),
    ],
)
def test_names_step_functions_rejects(name: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        check_execution_name(name)
    assert str(err.value).startswith("execution name") and message in str(err.value)


def test_generated_names_fit_and_are_unique() -> None:
    names = execution_names("run", 1_500)
    assert len(set(names)) == 1_500 and names[0].endswith("-0000") and all(len(n) <= 80 for n in names)
    assert execution_arn("arn:aws:states:us-east-1:000000000000:stateMachine:Flow", "run-1") == (
        "arn:aws:states:us-east-1:000000000000:execution:Flow:run-1"
    )


def test_lambda_error_causes_are_shown_as_their_message() -> None:
    lambda_cause = json.dumps({"errorMessage": "maxAttempts must be ...", "errorType": "InvalidJobInput"})
    assert readable_cause(lambda_cause) == "maxAttempts must be ..."
    assert readable_cause("plain text cause") == "plain text cause"
    assert readable_cause(None) == ""
