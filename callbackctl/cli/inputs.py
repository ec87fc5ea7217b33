"""Execution input: a named scenario, JSON on the command line, a file, or stdin."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from callbackctl.errors import UsageError

# Named inputs that exercise each path of the workflow (see docs/design.md for the input schema).
SCENARIOS: dict[str, dict[str, Any]] = {
    "success": {"simulate": {"outcome": "SUCCEED"}},
    "failure": {"simulate": {"outcome": "FAIL", "completionPolls": 2}},
    "max-attempts": {"simulate": {"outcome": "NEVER_FINISH"}, "maxAttempts": 3},
    "never-finish": {"simulate": {"outcome": "NEVER_FINISH"}, "maxAttempts": 10},  # the local stage's limit
    "bad-input": {"simulate": {"outcome": "EXPLODE"}},
}
MAX_INPUT_BYTES = 256 * 1024  # Step Functions' limit for an execution input


def read_source(source: str, option: str) -> tuple[str, str]:
    """The text of ``-`` (stdin), ``file://PATH`` or a path, and how to name it in errors."""
    if source == "-":
        return sys.stdin.read(), f"{option} - (stdin)"
    path = Path(source.removeprefix("file://"))
    try:
        return path.read_text(encoding="utf-8"), f"{option} {path}"
    except OSError as err:
        raise UsageError(f"{option}: cannot read {path}: {err.strerror or err}") from None


def parse_input(text: str, where: str) -> dict[str, Any]:
    if len(text.encode()) > MAX_INPUT_BYTES:
        raise UsageError(f"{where} is larger than the 256 KB Step Functions accepts as execution input")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"{where} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    if not isinstance(value, dict):
        raise UsageError(f'{where} must be a JSON object, e.g. \'{{"simulate": {{"outcome": "SUCCEED"}}}}\'')
    return value


def scenario_input(scenario: str | None, raw_input: str | None = None, input_file: str | None = None) -> dict[str, Any]:
    """The execution input from --input (JSON, file://PATH or -), --input-file (PATH or -), or --scenario."""
    if input_file is not None:
        return parse_input(*read_source(input_file, "--input-file"))
    if raw_input is not None:
        if raw_input == "-" or raw_input.startswith("file://"):
            return parse_input(*read_source(raw_input, "--input"))
        return parse_input(raw_input, "--input")
    name = scenario or "success"
    if name not in SCENARIOS:
        raise UsageError(f"unknown scenario {name!r}: choose one of {', '.join(SCENARIOS)}")
    return SCENARIOS[name]
