"""callbackctl chaos: what counts as lost or duplicated, and how results are reported (no AWS)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callbackctl.chaos import ScenarioResult, format_table, results_json
from callbackctl.chaos.observe import Observer, idempotency_key, token_fingerprint


def _result(**changes: Any) -> ScenarioResult:
    values: dict[str, Any] = {
        "scenario": "burst",
        "executions": 3,
        "expected": 3,
        "reached": 3,
        "lost": 0,
        "duplicateJobs": 0,
        "duplicateSends": 0,
        "seconds": 1.0,
        "arns": ["a", "b", "c"],
    }
    return ScenarioResult(**{**values, **changes})


@pytest.mark.parametrize(
    ("changes", "passed"),
    [
        ({}, True),
        ({"duplicateSends": None}, True),  # not counted on this target: not a failure
        ({"lost": 1, "reached": 2}, False),
        ({"duplicateJobs": 1}, False),
        ({"duplicateSends": 1}, False),
    ],
)
def test_a_scenario_passes_only_with_nothing_lost_or_duplicated(changes: dict[str, Any], passed: bool) -> None:
    assert _result(**changes).passed is passed


def test_a_failed_check_counts_as_lost_and_says_why() -> None:
    result = _result()
    result.fail("record not cancelled")
    assert (result.passed, result.lost, result.notes) == (False, 1, ["FAILED: record not cancelled"])


def test_json_has_camel_case_counts_and_no_execution_list() -> None:
    [row] = json.loads(results_json([_result(duplicateSends=None)]))
    assert row["duplicateJobs"] == 0 and row["duplicateSends"] is None and row["passed"] is True
    assert "arns" not in row


def test_table_shows_n_a_where_sends_are_not_counted() -> None:
    table = format_table([_result(duplicateSends=None, notes=["hello"])])
    assert "n/a" in table.splitlines()[1] and table.splitlines()[2].strip() == "hello"


class _Jobs(Observer):
    def __init__(self, keys: dict[str, str | None]) -> None:
        object.__setattr__(self, "keys", keys)

    def job(self, job_id: str) -> dict[str, Any]:
        return {"idempotencyKey": self.keys[job_id]}  # type: ignore[attr-defined]


def test_duplicate_jobs_are_second_jobs_under_a_key_or_jobs_under_a_foreign_key() -> None:
    a, b = "arn:exec:a", "arn:exec:b"
    one_each = _Jobs({"j1": idempotency_key(a), "j2": idempotency_key(b)})
    assert one_each.duplicate_jobs([a, b], ["j1", "j2"]) == 0
    twice = _Jobs({"j1": idempotency_key(a), "j2": idempotency_key(a)})
    assert twice.duplicate_jobs([a, b], ["j1", "j2"]) == 1
    foreign = _Jobs({"j1": idempotency_key(a), "j2": idempotency_key(a, redrive_count=1)})
    assert foreign.duplicate_jobs([a], ["j1", "j2"]) == 1


def test_keys_and_fingerprints_match_the_handlers() -> None:
    from common.log import token_fingerprint as handler_fingerprint
    from create_job.handler import idempotency_key as handler_key

    assert token_fingerprint("AQC-token") == handler_fingerprint("AQC-token")
    assert idempotency_key("arn:x", 2) == handler_key("arn:x", 2)
