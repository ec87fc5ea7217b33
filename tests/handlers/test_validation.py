"""create_job's validation of the execution input, boundaries pinned on both sides: plain pytest, no AWS."""

from __future__ import annotations

import re
from typing import Any

import pytest

from common.schedule import PollSchedule
from create_job.validation import InvalidJobInput, Limits, json_size, parse_job_request

LIMITS = Limits(max_attempts=59, max_input_bytes=1_024)


def test_empty_input_is_a_valid_default_job() -> None:
    request = parse_job_request(None, LIMITS)
    assert request.simulate == {} and request.payload == {} and request.max_attempts is None
    assert request.job_name is None and request.input_bytes == 2  # "{}"


@pytest.mark.parametrize("attempts", [1, 59])
def test_max_attempts_from_one_to_the_stage_limit_is_accepted(attempts: int) -> None:
    assert parse_job_request({"maxAttempts": attempts}, LIMITS).max_attempts == attempts


@pytest.mark.parametrize("attempts", [0, 60, -1, True, 2.0, "3"])
def test_max_attempts_outside_the_stage_limit_is_rejected_naming_the_limit(attempts: Any) -> None:
    with pytest.raises(InvalidJobInput) as raised:
        parse_job_request({"maxAttempts": attempts}, LIMITS)
    message = str(raised.value)
    assert f"maxAttempts must be an integer from 1 to 59, got {attempts!r}" in message
    assert "leaves room for at most 59 status checks" in message


@pytest.mark.parametrize("polls", [1, 100])
def test_completion_polls_from_1_to_100_are_accepted(polls: int) -> None:
    assert parse_job_request({"simulate": {"completionPolls": polls}}, LIMITS).simulate == {"completionPolls": polls}


@pytest.mark.parametrize("polls", [0, 101, True])
def test_completion_polls_outside_1_to_100_are_rejected(polls: Any) -> None:
    with pytest.raises(
        InvalidJobInput, match=f"simulate.completionPolls must be an integer from 1 to 100, got {polls}"
    ):
        parse_job_request({"simulate": {"completionPolls": polls}}, LIMITS)


def test_a_job_name_of_one_character_is_accepted() -> None:
    assert parse_job_request({"jobName": "n"}, LIMITS).job_name == "n"


def test_a_job_name_of_128_characters_is_accepted_129_rejected() -> None:
    assert parse_job_request({"jobName": "n" * 128}, LIMITS).job_name == "n" * 128
    with pytest.raises(InvalidJobInput, match="jobName must be a string of 1 to 128 characters"):
        parse_job_request({"jobName": "n" * 129}, LIMITS)


def _input_of(size: int) -> dict[str, Any]:
    """An execution input of exactly size bytes of compact UTF-8 JSON (a multi-byte character included)."""
    base = {"payload": {"s": "é"}}
    padded = {"payload": {"s": "é" + "x" * (size - json_size(base))}}
    assert json_size(padded) == size
    return padded


def test_an_input_of_exactly_max_input_bytes_is_accepted_and_its_size_recorded() -> None:
    request = parse_job_request(_input_of(1_024), LIMITS)
    assert request.input_bytes == 1_024


def test_an_input_one_byte_over_max_input_bytes_is_rejected_naming_both_sizes() -> None:
    with pytest.raises(InvalidJobInput) as raised:
        parse_job_request(_input_of(1_025), LIMITS)
    assert str(raised.value) == (
        "execution input is 1,025 bytes; the limit is 1,024 bytes, so that the input and the job result"
        " together fit Step Functions' 256 KiB state limit"
    )


@pytest.mark.parametrize(
    ("execution_input", "kind"),
    [([], "an array"), ("x", "a string"), (7, "a number"), (1.5, "a number"), (True, "a boolean")],
)
def test_an_input_that_is_not_an_object_is_rejected(execution_input: Any, kind: str) -> None:
    with pytest.raises(InvalidJobInput, match=f'must be a JSON object such as {{"payload": {{}}}}, got {kind}$'):
        parse_job_request(execution_input, LIMITS)


def test_an_input_of_another_type_is_named_by_its_type() -> None:
    with pytest.raises(InvalidJobInput, match=r"got tuple$"):
        parse_job_request((1, 2), LIMITS)


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        (
            {"colour": "red", "size": 1},
            "unknown field(s) colour, size in execution input; allowed: jobName, maxAttempts, payload, "
            "pollIntervalSeconds, simulate",
        ),
        (
            {"simulate": {"speed": 1, "colour": 2}},
            "unknown field(s) colour, speed in simulate; allowed: completionPolls, outcome",
        ),
        (
            {"simulate": {"outcome": "EXPLODE"}},
            "simulate.outcome must be one of SUCCEED, FAIL, NEVER_FINISH, got 'EXPLODE'",
        ),
    ],
)
def test_unknown_fields_and_outcomes_are_named_whole(execution_input: Any, message: str) -> None:
    with pytest.raises(InvalidJobInput, match=f"^{re.escape(message)}$"):
        parse_job_request(execution_input, LIMITS)


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ({"colour": "red"}, r"unknown field\(s\) colour in execution input; allowed: jobName, maxAttempts"),
        ({"jobName": ""}, "jobName must be a string of 1 to 128 characters"),
        ({"jobName": 5}, "jobName must be a string of 1 to 128 characters, got 5"),
        ({"payload": "x"}, "payload must be a JSON object, got str"),
        ({"simulate": []}, "simulate must be a JSON object, got list"),
        ({"simulate": {"outcome": "EXPLODE"}}, "simulate.outcome must be one of SUCCEED, FAIL, NEVER_FINISH"),
        ({"simulate": {"speed": 1}}, r"unknown field\(s\) speed in simulate"),
    ],
)
def test_bad_fields_are_rejected_with_a_readable_error(execution_input: Any, message: str) -> None:
    with pytest.raises(InvalidJobInput, match=message):
        parse_job_request(execution_input, LIMITS)


def test_a_stage_without_a_schedule_refuses_an_executions_poll_interval() -> None:
    with pytest.raises(InvalidJobInput) as raised:
        parse_job_request({"pollIntervalSeconds": 60}, LIMITS)
    assert str(raised.value) == "pollIntervalSeconds is not supported by this stage"


def _schedule(task_timeout: float) -> PollSchedule:
    return PollSchedule(
        initial=10.0,
        min_initial=5.0,
        cap=100.0,
        factor=2.0,
        heartbeat_refresh=50.0,
        lag=7.0,
        task_timeout=task_timeout,
        shards=1,
    )


def test_a_poll_interval_that_leaves_room_for_one_check_is_taken() -> None:
    """A first interval of 30 s: one check ends 37 s in (with the lag), two 87 s in."""
    limits = Limits(max_attempts=59, max_input_bytes=1_024, schedule=_schedule(task_timeout=38.0))
    request = parse_job_request({"pollIntervalSeconds": 30, "maxAttempts": 1}, limits)
    assert (request.poll_interval, request.max_attempts) == (30.0, 1)
    with pytest.raises(InvalidJobInput, match="leaves room for at most 1 status checks"):
        parse_job_request({"pollIntervalSeconds": 30, "maxAttempts": 2}, limits)


def test_a_poll_interval_that_leaves_no_room_for_a_check_is_refused() -> None:
    limits = Limits(max_attempts=59, max_input_bytes=1_024, schedule=_schedule(task_timeout=37.0))
    with pytest.raises(InvalidJobInput) as raised:
        parse_job_request({"pollIntervalSeconds": 30}, limits)
    assert str(raised.value) == "pollIntervalSeconds 30 leaves no time for a status check before the task times out"
