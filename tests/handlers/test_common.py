"""common/: the environment read with errors that name the variable, the JSON log lines every handler
writes through Powertools Logger (with the Lambda context and correlation keys, and the token
fingerprint they carry instead of the token), and the job API client's errors."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.config import ConfigurationError, env_float, env_int, env_str
from common.job_api import JobApiClient, JobApiError, JobNotFound
from common.log import get_logger, inject_lambda_context, token_fingerprint

# Reading the environment.


@pytest.mark.parametrize("read", [env_str, env_int, env_float])
@pytest.mark.parametrize("value", [None, ""])
def test_a_variable_unset_or_empty_is_named_as_not_set(
    monkeypatch: pytest.MonkeyPatch, read: Any, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("SETTING", raising=False)
    else:
        monkeypatch.setenv("SETTING", value)
    with pytest.raises(ConfigurationError, match=r"^environment variable SETTING is not set; the stack sets it"):
        read("SETTING")


def test_a_default_stands_in_for_an_unset_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SETTING", raising=False)
    assert env_str("SETTING", "fallback") == "fallback"
    assert env_int("SETTING", 7) == 7
    monkeypatch.setenv("SETTING", "")
    assert env_int("SETTING", 7) == 7
    monkeypatch.setenv("SETTING", "set")
    assert env_str("SETTING", "fallback") == "set"


@pytest.mark.parametrize(("minimum", "lowest"), [(1, "1"), (5, "5")])
def test_an_integer_at_its_minimum_is_taken_one_below_is_named(
    monkeypatch: pytest.MonkeyPatch, minimum: int, lowest: str
) -> None:
    monkeypatch.setenv("SETTING", lowest)
    assert env_int("SETTING", minimum=minimum) == minimum
    monkeypatch.setenv("SETTING", str(minimum - 1))
    with pytest.raises(ConfigurationError, match=f"^environment variable SETTING={minimum - 1} must be >= {minimum}$"):
        env_int("SETTING", minimum=minimum)


def test_an_integer_is_at_least_zero_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTING", "0")
    assert env_int("SETTING") == 0
    monkeypatch.setenv("SETTING", "-1")
    with pytest.raises(ConfigurationError, match="SETTING=-1 must be >= 0"):
        env_int("SETTING")


@pytest.mark.parametrize(("raw", "message"), [("ten", "SETTING='ten' is not an integer"), ("1.5", "'1.5' is not")])
def test_an_integer_that_is_not_one_is_named(monkeypatch: pytest.MonkeyPatch, raw: str, message: str) -> None:
    monkeypatch.setenv("SETTING", raw)
    with pytest.raises(ConfigurationError, match=message):
        env_int("SETTING")


@pytest.mark.parametrize(("raw", "value"), [("0.25", 0.25), ("5", 5.0), ("60", 60.0)])
def test_a_positive_number_is_taken_fractions_included(monkeypatch: pytest.MonkeyPatch, raw: str, value: float) -> None:
    """POLL_INTERVAL_SECONDS on a sped-up local cloud is a fraction of a minute, or of a second."""
    monkeypatch.setenv("SETTING", raw)
    assert env_float("SETTING") == value


@pytest.mark.parametrize(
    ("raw", "message"),
    [("0", "SETTING=0.0 must be > 0"), ("-2", "SETTING=-2.0 must be > 0"), ("soon", "SETTING='soon' is not a number")],
)
def test_a_number_that_is_not_positive_is_named(monkeypatch: pytest.MonkeyPatch, raw: str, message: str) -> None:
    monkeypatch.setenv("SETTING", raw)
    with pytest.raises(ConfigurationError, match=f"^environment variable {message}$"):
        env_float("SETTING")


# Logs: one JSON object per line on stdout, the way CloudWatch Logs Insights reads them.


def _logger(monkeypatch: pytest.MonkeyPatch, level: str | None = None) -> Any:
    if level is None:
        monkeypatch.delenv("LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("LOG_LEVEL", level)
    return get_logger(f"test-{uuid.uuid4().hex[:8]}")  # a fresh logger: its set-up is what is tested


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_a_log_line_is_one_json_object_with_level_service_message_and_fields(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = _logger(monkeypatch)
    logger.info("job %s started", "j-1", extra={"jobId": "j-1", "attempt": 2})
    [line] = _lines(capsys.readouterr().out)
    assert line.pop("timestamp").endswith("+00:00")  # RFC 3339, UTC
    assert line.pop("location").startswith("test_a_log_line_is_one_json_object")
    assert line == {"level": "INFO", "service": logger.name, "message": "job j-1 started", "jobId": "j-1", "attempt": 2}


def test_a_logged_exception_comes_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = _logger(monkeypatch)
    try:
        raise KeyError("jobId")
    except KeyError:
        logger.exception("job could not be processed", extra={"jobId": "j-1"})
    [line] = _lines(capsys.readouterr().out)
    assert (line["level"], line["message"], line["jobId"]) == ("ERROR", "job could not be processed", "j-1")
    assert line["exception"].startswith("Traceback") and "KeyError: 'jobId'" in line["exception"]


def test_values_json_cannot_hold_are_written_as_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = _logger(monkeypatch)
    logger.warning("odd values", extra={"error": ValueError("bad"), "ids": {"a"}})
    [line] = _lines(capsys.readouterr().out)
    assert (line["error"], line["ids"]) == ("bad", "{'a'}")


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        (None, ["INFO", "WARNING", "ERROR"]),  # INFO by default
        ("WARNING", ["WARNING", "ERROR"]),
        ("error", ["ERROR"]),  # any case
        ("debug", ["DEBUG", "INFO", "WARNING", "ERROR"]),
    ],
)
def test_log_level_sets_what_is_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], level: str | None, shown: list[str]
) -> None:
    logger = _logger(monkeypatch, level)
    for name in ("debug", "info", "warning", "error"):
        getattr(logger, name)(name)
    assert [line["level"] for line in _lines(capsys.readouterr().out)] == shown


def test_timestamps_are_utc_whatever_the_local_time_zone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        logger = _logger(monkeypatch)
        before = datetime.now(UTC)
        logger.info("when")
        after = datetime.now(UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
    [line] = _lines(capsys.readouterr().out)
    assert line["timestamp"].endswith("+00:00")
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(line["timestamp"]) <= after


@pytest.mark.parametrize(("level", "shown"), [(None, ["INFO", "ERROR"]), ("debug", ["DEBUG", "INFO", "ERROR"])])
def test_log_level_is_the_one_read_whatever_powertools_own_variable_says(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], level: str | None, shown: list[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
    logger = _logger(monkeypatch, level)
    for name in ("debug", "info", "error"):
        getattr(logger, name)(name)
    assert [line["level"] for line in _lines(capsys.readouterr().out)] == shown


@pytest.mark.filterwarnings("ignore:Current log level")
def test_lambdas_advanced_logging_controls_set_the_level_over_log_level(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A function whose log level is set in Lambda (AWS_LAMBDA_LOG_LEVEL) writes at that level,
    whatever LOG_LEVEL says."""
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "WARN")
    logger = _logger(monkeypatch, "DEBUG")
    for name in ("debug", "info", "warning", "error"):
        getattr(logger, name)(name)
    assert [line["level"] for line in _lines(capsys.readouterr().out)] == ["WARNING", "ERROR"]


def test_each_record_is_written_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Asking for the same logger again (every module import does) adds no second handler, and records
    do not go on to the root logger, whose handler in Lambda would print them a second time."""
    logger = _logger(monkeypatch)
    assert get_logger(logger.name) is logger
    with caplog.at_level(logging.INFO):  # caplog listens on the root logger
        logger.info("once")
    assert [line["message"] for line in _lines(capsys.readouterr().out)] == ["once"]
    assert caplog.records == []


def test_the_level_is_read_again_when_the_logger_is_asked_for_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = _logger(monkeypatch, "ERROR")
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    get_logger(logger.name).info("now shown")
    assert [line["message"] for line in _lines(capsys.readouterr().out)] == ["now shown"]


def test_lines_go_to_the_stdout_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda's runtime and the test runners replace sys.stdout after the logger was made."""
    logger = _logger(monkeypatch)
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", first)
    logger.info("to the first")
    monkeypatch.setattr("sys.stdout", second)
    logger.info("to the second")
    assert [json.loads(line)["message"] for line in first.getvalue().splitlines()] == ["to the first"]
    assert [json.loads(line)["message"] for line in second.getvalue().splitlines()] == ["to the second"]


@dataclass(frozen=True)
class _LambdaContext:
    aws_request_id: str
    function_name: str = "CallbackPattern-Poller"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:CallbackPattern-Poller"


def test_each_invocation_logs_its_request_and_the_correlation_keys_of_its_event(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every line of an invocation carries the Lambda request id, cold start and the event's jobId or
    execution ARN; the next invocation starts clean (no key of the previous event is left)."""
    logger = _logger(monkeypatch)

    @inject_lambda_context(logger, correlation={"executionArn": "executionId", "jobId": "jobId"})
    def handler(event: Any, context: Any, answer: str = "ok") -> str:
        logger.info("working")
        return answer

    arn = "arn:aws:states:us-east-1:000000000000:execution:Workflow:run-1"
    assert handler({"executionId": arn, "jobId": "j-1"}, _LambdaContext("req-1"), answer="done") == "done"
    handler({"jobId": "j-2", "executionId": 7}, _LambdaContext("req-2"))
    handler(["not", "an", "object"], None)
    first, second, third = _lines(capsys.readouterr().out)
    assert (first["function_request_id"], first["executionArn"], first["jobId"]) == ("req-1", arn, "j-1")
    assert first["function_name"] == "CallbackPattern-Poller" and isinstance(first["cold_start"], bool)
    assert (second["function_request_id"], second["jobId"], second["cold_start"]) == ("req-2", "j-2", False)
    assert "executionArn" not in second  # not a string in this event, and the first event's is gone
    assert "function_request_id" not in third and "jobId" not in third  # no Lambda context: nothing of the last


def test_a_token_fingerprint_is_short_stable_and_gives_nothing_of_the_token_away() -> None:
    """The same token has the same fingerprint in every process (create_job's and the poller's logs
    name it alike, today and in old logs), and the fingerprint cannot be turned back into the token."""
    token = "AQCEAAAAKgAAAAMAAAAAAAAAA" + "x" * 600
    assert token_fingerprint(token) == "tok-3077e0fa9443"
    assert token_fingerprint(token + "y") != "tok-3077e0fa9443"


# The job API client's errors.


class _Answering:
    """A Lambda client whose Invoke answers with a fixed payload (and FunctionError when given)."""

    def __init__(self, payload: bytes, function_error: str | None = None) -> None:
        self.payload, self.function_error = payload, function_error

    def invoke(self, **_: Any) -> dict[str, Any]:
        response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(self.payload)}
        if self.function_error:
            response["FunctionError"] = self.function_error
        return response


def _client(payload: bytes, function_error: str | None = None) -> JobApiClient:
    return JobApiClient(lambda_client=_Answering(payload, function_error), function_name="api")


def test_an_unknown_job_is_job_not_found_with_the_apis_message() -> None:
    body = json.dumps({"errorType": "JobNotFound", "errorMessage": "no job with id 'j'"}).encode()
    with pytest.raises(JobNotFound) as raised:
        _client(body, "Unhandled").check_status("j")
    assert (raised.value.error_type, raised.value.message) == ("JobNotFound", "no job with id 'j'")
    assert str(raised.value) == "JobNotFound: no job with id 'j'"


@pytest.mark.parametrize(
    ("body", "error_type", "message"),
    [
        ({"errorType": "ServiceUnavailable", "errorMessage": "down"}, "ServiceUnavailable", "down"),
        ({"errorMessage": "no type"}, "JobApiError", "no type"),
        ({"errorType": "Boom"}, "Boom", "{'errorType': 'Boom'}"),
        (["not", "an", "object"], "JobApiError", "['not', 'an', 'object']"),
    ],
)
def test_a_function_error_is_a_job_api_error_named_after_it(body: Any, error_type: str, message: str) -> None:
    with pytest.raises(JobApiError) as raised:
        _client(json.dumps(body).encode(), "Unhandled").cancel_job("j")
    assert not isinstance(raised.value, JobNotFound)
    assert (raised.value.error_type, raised.value.message) == (error_type, message)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "BadResponse: job API returned None, expected an object"),  # an empty answer
        (b"[1, 2]", "BadResponse: job API returned [1, 2], expected an object"),
        (b"x" * 300, "BadResponse: job API returned non-JSON: b'" + "x" * 200 + "'"),  # cut at 200 bytes
    ],
)
def test_an_answer_that_is_not_an_object_is_a_bad_response(payload: bytes, message: str) -> None:
    with pytest.raises(JobApiError) as raised:
        _client(payload).check_status("j")
    assert (raised.value.error_type, str(raised.value)) == ("BadResponse", message)


def test_each_request_names_its_action_and_job() -> None:
    sent: list[dict[str, Any]] = []

    class Recording:
        def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
            sent.append({"function": FunctionName, "type": InvocationType, **json.loads(Payload)})
            return {"StatusCode": 200, "Payload": io.BytesIO(b'{"jobId": "j", "status": "IN_PROGRESS"}')}

    client = JobApiClient(lambda_client=Recording(), function_name="api-fn")
    assert client.check_status("j") == {"jobId": "j", "status": "IN_PROGRESS"}
    client.cancel_job("k")
    assert sent == [
        {"function": "api-fn", "type": "RequestResponse", "action": "CHECK_STATUS", "jobId": "j"},
        {"function": "api-fn", "type": "RequestResponse", "action": "CANCEL_JOB", "jobId": "k"},
    ]
