"""The commands against a faked deployment (no local cloud): exit codes, valid JSON, what the text says."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from callbackctl.cli.app import main
from callbackctl.commands import cleanup as cleanup_command
from callbackctl.commands import executions as executions_command
from callbackctl.commands import logs as logs_command
from callbackctl.commands import monitor as monitor_command
from callbackctl.commands import poll as poll_command
from callbackctl.deployment import executions as ex
from callbackctl.deployment.cleanup import CleanupResult
from callbackctl.deployment.functions import Invocation
from callbackctl.deployment.stack import StackInfo
from callbackctl.deployment.targets import Target, resolve_target

MACHINE = "arn:aws:states:us-east-1:000000000000:stateMachine:Flow"
INFO = StackInfo(
    state_machine_arn=MACHINE,
    task_tokens_table="Tokens",
    poll_state_table="PollState",
    jobs_table="Jobs",
    create_job_function="CallbackPattern-CreateJob",
    poller_function="CallbackPattern-Poller",
    simulated_api_function="CallbackPattern-Api",
    poller_schedule="PollerSchedule",
    poller_schedules_joined="PollerSchedule,PollerSchedule1",
    dead_letter_queue_url="http://localhost:4566/000000000000/dlq",
)


def arn(name: str) -> str:
    return f"arn:aws:states:us-east-1:000000000000:execution:Flow:{name}"


def result(name: str, status: str, end_state: str | None = None, error: str | None = None) -> ex.ExecutionResult:
    return ex.ExecutionResult(
        name=name, execution_arn=arn(name), status=status, end_state=end_state, error=error, cause=None,
        output={"jobResult": {"jobId": "j"}} if status == "SUCCEEDED" else None, seconds=1.0,
    )  # fmt: skip


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> Target:
    """One local target for every command, and the stack's outputs without CloudFormation."""
    local = resolve_target("localcloud")
    for module in (executions_command, cleanup_command, poll_command, monitor_command, logs_command):
        monkeypatch.setattr(module, "target_from", lambda _args: local)
        monkeypatch.setattr(module, "stack_info", lambda _target: INFO)
    return local


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch, target: Target) -> Callable[[list[ex.ExecutionResult]], list[str]]:
    """Executions that end as given: start_executions, wait_for and describe_all faked."""

    def setup(results: list[ex.ExecutionResult]) -> list[str]:
        started: list[str] = []

        def start(_t: Target, _machine: str, inputs: list[Any], *, prefix: str, progress: Any = None, **_: Any) -> Any:
            names = ex.execution_names(prefix, len(inputs))
            started.extend(names)
            return [(n, arn(n)) for n in names]

        monkeypatch.setattr(ex, "start_executions", start)
        monkeypatch.setattr(
            ex, "wait_for", lambda _t, arns, **_: {a: r.status for a, r in zip(arns, results, strict=False)}
        )
        monkeypatch.setattr(ex, "describe_all", lambda _t, arns: results[: len(list(arns))])
        return started

    return setup


def test_start_without_wait_prints_names_and_arns(ran: Any, capsys: pytest.CaptureFixture[str]) -> None:
    names = ran([])
    assert run(["start", "--count", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == [{"name": n, "executionArn": arn(n)} for n in names]


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        (["SUCCEEDED", "SUCCEEDED"], 0),
        (["SUCCEEDED", "FAILED"], 1),
        (["SUCCEEDED", "ABORTED"], 1),
        (["SUCCEEDED", "RUNNING"], 4),
    ],
)
def test_start_wait_exit_code_says_how_the_executions_ended(
    ran: Any, statuses: list[str], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    ran([result(f"run-{i}", s, "JobSucceeded" if s == "SUCCEEDED" else None) for i, s in enumerate(statuses)])
    assert run(["start", "--count", "2", "--wait", "--json", "--timeout", "5"]) == code
    captured = capsys.readouterr()
    data = json.loads(captured.out)  # printed even when some did not end: valid JSON
    assert [r["status"] for r in data] == statuses and {"executionArn", "endState"} <= set(data[0])
    if code == 4:
        assert "still running after 5s" in captured.err
    elif code == 1:
        assert "1 of 2 execution(s) did not succeed" in captured.err


def test_the_failure_scenario_waited_for_exits_1(ran: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ran([result("run-0", "FAILED", "JobFailed", "JobFailed")])
    assert run(["start", "--scenario", "failure", "--wait"]) == 1
    out = capsys.readouterr().out
    assert "JobFailed" in out and "Summary: 1 FAILED/JobFailed" in out


def test_the_summary_of_executions_still_running_names_no_end_state(
    ran: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ran([result("run-0", "SUCCEEDED", "JobSucceeded"), result("run-1", "RUNNING")])
    assert run(["start", "--count", "2", "--wait", "--timeout", "5"]) == 4
    summary = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert summary == "Summary: 1 RUNNING, 1 SUCCEEDED/JobSucceeded"


def test_watch_skips_running_executions_whose_names_step_functions_rejects(
    ran: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The local cloud accepts such names from other clients; DescribeExecution then refuses them (InvalidArn).
    ran([result("run-0", "SUCCEEDED", "JobSucceeded")])
    monkeypatch.setattr(ex, "running_executions", lambda _t, _m: [arn("has space"), arn("run-0"), arn("x" * 90)])
    followed: list[str] = []
    monkeypatch.setattr(ex, "wait_for", lambda _t, arns, **_: followed.extend(arns) or {})
    assert run(["watch", "--json"]) == 0
    captured = capsys.readouterr()
    assert followed == [arn("run-0")]
    assert [r["name"] for r in json.loads(captured.out)] == ["run-0"]
    assert "skipping 2 running execution(s) whose names Step Functions rejects (e.g. 'has space')" in captured.err


class _Stdin(io.StringIO):
    def __init__(self, text: str, *, tty: bool) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_a_large_count_is_warned_about_and_started_with_yes(ran: Any, capsys: pytest.CaptureFixture[str]) -> None:
    started = ran([])
    assert run(["start", "--count", "2000", "--yes"]) == 0
    err = capsys.readouterr().err
    assert "warning: 2,000 executions: the local cloud starts a few executions a second" in err
    assert len(started) == 2000


def test_a_large_count_from_a_script_without_yes_starts_nothing(
    ran: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started = ran([])
    monkeypatch.setattr("sys.stdin", _Stdin("", tty=False))
    assert run(["start", "--count", "2000"]) == 2
    err = capsys.readouterr().err
    assert "warning: 2,000 executions" in err
    assert err.rstrip().splitlines()[-1] == (
        "callbackctl start: error: --count 2,000 is above 500: add --yes to start them anyway"
    )
    assert started == []


@pytest.mark.parametrize(("answer", "code", "count"), [("y\n", 0, 501), ("\n", 1, 0), ("no\n", 1, 0)])
def test_a_large_count_on_a_terminal_asks_first(
    ran: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answer: str, code: int, count: int
) -> None:
    started = ran([])
    monkeypatch.setattr("sys.stdin", _Stdin(answer, tty=True))
    assert run(["start", "--count", "501"]) == code
    assert "start 501 executions? [y/N]" in capsys.readouterr().err
    assert len(started) == count


def test_a_small_count_starts_without_asking(ran: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    started = ran([])
    monkeypatch.setattr("sys.stdin", _Stdin("", tty=False))
    assert run(["start", "--count", "500"]) == 0
    assert len(started) == 500


def test_watch_with_nothing_running_prints_an_empty_list(
    target: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ex, "running_executions", lambda _t, _m: [])
    assert run(["watch", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert run(["watch"]) == 0
    assert "no running executions" in capsys.readouterr().out


@pytest.fixture
def stepfunctions(target: Target) -> Iterator[Stubber]:
    with Stubber(target.client("stepfunctions")) as stub:
        yield stub


def test_watch_an_unknown_execution_says_so(stepfunctions: Stubber, capsys: pytest.CaptureFixture[str]) -> None:
    stepfunctions.add_client_error("describe_execution", "ExecutionDoesNotExist", "Execution Does Not Exist")
    assert run(["watch", "run-nope-000"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (
        f"callbackctl watch: error: no execution {arn('run-nope-000')} on localcloud: "
        "check the name or ARN (`callbackctl monitor` lists recent ones)"
    )


def test_history_shows_every_event(stepfunctions: Stubber, capsys: pytest.CaptureFixture[str]) -> None:
    stepfunctions.add_response("describe_execution", _description("run-1"), {"executionArn": arn("run-1")})
    at = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    events = [
        {"id": 1, "type": "ExecutionStarted", "timestamp": at, "executionStartedEventDetails": {"input": "{}"}},
        {"id": 2, "type": "TaskStateEntered", "timestamp": at, "stateEnteredEventDetails": {"name": "CreateJob"}},
        {"id": 3, "type": "ExecutionFailed", "timestamp": at, "executionFailedEventDetails": {"error": "JobFailed"}},
    ]
    stepfunctions.add_response(
        "get_execution_history", {"events": events}, {"executionArn": arn("run-1"), "reverseOrder": False}
    )
    assert run(["history", "run-1"]) == 0
    out = capsys.readouterr().out
    assert "History of run-1 (3 events)" in out and "CreateJob" in out and "JobFailed" in out
    stepfunctions.add_response("describe_execution", _description("run-1"), {"executionArn": arn("run-1")})
    stepfunctions.add_response(
        "get_execution_history", {"events": events}, {"executionArn": arn("run-1"), "reverseOrder": False}
    )
    assert run(["history", arn("run-1"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (
        data[0]["timestamp"] == "2026-12-01T06:30:00+00:00"
        and data[1]["stateEnteredEventDetails"]["name"] == "CreateJob"
    )


def _description(name: str) -> dict[str, Any]:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    return {"executionArn": arn(name), "stateMachineArn": MACHINE, "name": name, "status": "FAILED", "startDate": at}


def test_poll_prints_attempts_as_numbers(
    target: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    records = iter(
        [
            {"status": {"S": "POLLING"}, "maxAttempts": {"N": "1000"}},
            {"status": {"S": "POLLING"}, "maxAttempts": {"N": "1000"}},
        ]
    )
    state = {"attemptCount": {"N": "15"}}  # a pending job's attempts are in its poll state

    def get_item(_target: Any, table: str, _key: Any) -> Any:
        return state if table == INFO.poll_state_table else next(records)

    monkeypatch.setattr(poll_command, "get_item", get_item)
    monkeypatch.setattr(poll_command, "invoke", lambda *_: Invocation({"checked": 1, "heartbeats": 1}, None))
    assert run(["poll", "job-1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["attemptCount"], data["maxAttempts"], data["statusAfter"]) == (15, 1000, "POLLING")


def test_cleanup_reports_the_dead_letter_queue_and_what_it_could_not_stop(
    target: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    done = CleanupResult(ended_waiting_executions=2, stopped_executions=1, deleted_token_records=3, deleted_jobs=3)
    done.purged_dead_letter_messages = 4
    monkeypatch.setattr(cleanup_command, "cleanup", lambda *_a, **_k: done)
    assert run(["cleanup"]) == 0
    out, err = capsys.readouterr()
    assert "purged the dead-letter queue (4 messages)" in out
    # Which deployment it acted on, before and after: a shell left pointing at the wrong cloud shows.
    assert f"cleaning up CallbackPattern on localcloud ({target.endpoint_url})" in err
    assert out.startswith(f"localcloud ({target.endpoint_url}): ended 2 waiting executions")
    assert run(["cleanup", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["purgedDeadLetterMessages"], data["deadLetterQueue"], data["notStopped"]) == (4, "purged", [])
    done.not_stopped = [f"{arn('bad name')}: InvalidArn: Invalid Arn"]
    assert run(["cleanup"]) == 1
    assert "could not stop" in capsys.readouterr().err


def test_ctrl_c_exits_130_in_monitor_watch(
    target: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(monitor_command, "snapshot", lambda *_a, **_k: {"schedule": {}})

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(monitor_command.time, "sleep", interrupt)
    assert run(["monitor", "--watch", "1", "--json"]) == 130
    captured = capsys.readouterr()
    assert json.loads(captured.out.splitlines()[0]) == {"schedule": {}}  # JSON Lines, one object per refresh
    assert captured.err.strip() == "callbackctl monitor: error: interrupted"


def test_ctrl_c_exits_130_in_watch(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ex, "running_executions", lambda _t, _m: [arn("run-1")])

    def interrupt(*_a: Any, **_k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ex, "wait_for", interrupt)
    assert run(["watch"]) == 130


def test_a_closed_pipe_ends_quietly(ran: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ran([])

    def closed(*_a: Any, **_k: Any) -> None:
        raise BrokenPipeError

    monkeypatch.setattr(executions_command, "emit", closed)
    assert run(["start"]) == 0


def test_logs_of_one_function(
    target: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[str] = []

    def events(_t: Target, name: str, *, start_ms: int, pattern: str | None) -> Iterator[dict[str, Any]]:
        seen.append(name)
        yield {"eventId": "1", "timestamp": 1_796_000_000_000, "message": "START RequestId: r1\n", "logStreamName": "s"}
        yield {"eventId": "2", "timestamp": 1_796_000_000_500, "message": "[ERROR] boom\n", "logStreamName": "s"}

    monkeypatch.setattr(logs_command, "log_events", events)
    assert run(["logs", "poller", "--since", "1h"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert seen == ["CallbackPattern-Poller"] and out[0].endswith("START RequestId: r1") and "[ERROR] boom" in out[1]
    assert run(["logs", "CallbackPattern-Api", "--json"]) == 0
    assert [e["message"] for e in json.loads(capsys.readouterr().out)] == ["START RequestId: r1", "[ERROR] boom"]
    assert run(["logs", "scheduler"]) == 2
    assert "choose one of create-job, poller, simulated-api" in capsys.readouterr().err


def test_template_summary_names_the_stage_and_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["template-summary", str(tmp_path)]) == 2
    assert "run `make synth` first" in capsys.readouterr().err
    function = {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {"STAGE": "aws"}}}}
    template = {
        "Resources": {"A": {"Type": "AWS::DynamoDB::Table"}, "B": {"Type": "AWS::DynamoDB::Table"}, "F": function},
        "Outputs": {"StateMachineArn": {}},
    }
    (tmp_path / "CallbackPattern.template.json").write_text(json.dumps(template))
    assert run(["template-summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "(stage aws): 3 resources" in out and "2  AWS::DynamoDB::Table" in out and "StateMachineArn" in out
    assert run(["template-summary", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["stage"], data["resourceCount"], data["resources"]["AWS::DynamoDB::Table"]) == ("aws", 3, 2)


def test_logs_follow_prints_each_new_line_once_until_ctrl_c(
    target: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rounds = iter(
        [
            [{"eventId": "1", "timestamp": 1_796_000_000_000, "message": "first\n"}],
            [
                {"eventId": "1", "timestamp": 1_796_000_000_000, "message": "first\n"},
                {"eventId": "2", "timestamp": 1_796_000_001_000, "message": "second\n"},
            ],
        ]
    )
    monkeypatch.setattr(logs_command, "log_events", lambda *_a, **_k: iter(next(rounds)))
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(logs_command.time, "sleep", sleep)
    assert run(["logs", "poller", "--follow", "--json"]) == 130
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["first", "second"]


def test_the_stack_lists_one_schedule_and_shard_per_poller_schedule() -> None:
    assert INFO.poller_schedules == ("PollerSchedule", "PollerSchedule1")
    assert INFO.shards == ("0", "1")
