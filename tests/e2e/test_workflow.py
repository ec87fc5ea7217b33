"""End-to-end: real state machine, real handlers, real tables, on the local cloud (deployed with cdklocal)."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections import Counter
from typing import Any

from callbackctl.deployment import TERMINAL, StackInfo, Target, end_state

from .conftest import HEARTBEAT_SECONDS, accepted_final_sends, history, job_id_of, start, token_record, wait_for


def _finished(target: Target, arn: str, timeout: float) -> dict[str, Any]:
    sfn = target.client("stepfunctions")
    return wait_for(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] in TERMINAL and d,
        timeout=timeout,
        what=f"execution {arn.rsplit(':', 1)[-1]} to finish",
    )


def test_success_waits_at_no_cost_then_the_schedule_resumes_it_with_the_result(
    target: Target, stack: StackInfo, paused_schedule
) -> None:
    arn = start(target, stack, {"jobName": "e2e-success", "payload": {"order": 42}, "simulate": {"completionPolls": 2}})
    job_id = wait_for(lambda: job_id_of(target, arn), timeout=30, what="create_job to store the token")
    record = token_record(target, stack, job_id)
    assert record is not None and record["status"] == "POLLING" and record["executionArn"] == arn
    assert len(record["taskToken"]) > 20
    # The state machine passed the task attempt and the execution's run ($$.State.RetryCount,
    # $$.Execution.RedriveCount): the record keeps the latest attempt's token, and knows its run.
    assert (int(record["retryCount"]), int(record["redriveCount"])) == (0, 0)

    # Paused: the execution waits on its token and makes no transitions at all.
    events_before = len(history(target, arn))
    time.sleep(4)
    assert target.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert len(history(target, arn)) == events_before

    paused_schedule()  # resume the schedule: its firings (not a direct invoke) drive the job to the end
    done = _finished(target, arn, timeout=60)
    assert done["status"] == "SUCCEEDED"
    output = json.loads(done["output"])  # the execution input plus the job result under jobResult
    assert output["jobName"] == "e2e-success"
    assert output["jobResult"]["jobId"] == job_id
    assert output["jobResult"]["payload"] == {"order": 42}
    assert end_state(target, arn) == "JobSucceeded"
    final = token_record(target, stack, job_id)
    assert final is not None and final["status"] == "COMPLETED" and int(final["attemptCount"]) == 2


def test_job_failure_and_attempts_exhausted_end_in_the_failed_state(target: Target, stack: StackInfo) -> None:
    failing = start(target, stack, {"simulate": {"outcome": "FAIL", "completionPolls": 1}})
    exhausted = start(target, stack, {"simulate": {"outcome": "NEVER_FINISH"}, "maxAttempts": 2})

    done = _finished(target, failing, timeout=60)
    assert (done["status"], done.get("error")) == ("FAILED", "JobFailed")
    assert "simulated failure of job" in done["cause"]
    assert end_state(target, failing) == "JobFailed"

    done = _finished(target, exhausted, timeout=60)
    assert (done["status"], done.get("error")) == ("FAILED", "MaxAttemptsExceeded")
    assert "after 2 poll attempts (limit 2)" in done["cause"]
    assert end_state(target, exhausted) == "JobFailed"
    record = token_record(target, stack, job_id_of(target, exhausted) or "")
    assert record is not None and record["status"] == "MAX_ATTEMPTS"


def test_heartbeat_timeout_ends_in_timed_out_and_the_poller_marks_the_record_expired(
    target: Target, stack: StackInfo, paused_schedule
) -> None:
    arn = start(target, stack, {"simulate": {"outcome": "NEVER_FINISH"}, "maxAttempts": 30})
    job_id = wait_for(lambda: job_id_of(target, arn), timeout=30, what="create_job to store the token")
    # No poller runs: no heartbeats reach the task, so it times out after HEARTBEAT_SECONDS.
    done = _finished(target, arn, timeout=HEARTBEAT_SECONDS + 45)
    assert done["status"] == "FAILED"
    assert done.get("error") == "JobTimedOut"
    kinds = [e["type"] for e in history(target, arn)]
    assert "TaskTimedOut" in kinds  # the heartbeat timeout, caught and routed to TimedOut
    assert end_state(target, arn) == "TimedOut"
    assert token_record(target, stack, job_id)["status"] == "POLLING"  # type: ignore[index]

    paused_schedule()  # the next poller run finds the token rejected and retires the record
    wait_for(
        lambda: token_record(target, stack, job_id)["status"] == "EXPIRED",  # type: ignore[index]
        timeout=45,
        what="the poller to mark the record EXPIRED",
    )


def test_bad_execution_input_fails_fast_with_a_readable_error(target: Target, stack: StackInfo) -> None:
    started = time.monotonic()
    arn = start(target, stack, {"simulate": {"outcome": "EXPLODE"}})
    done = _finished(target, arn, timeout=30)
    assert time.monotonic() - started < 20
    assert (done["status"], done.get("error")) == ("FAILED", "InvalidJobInput")
    assert "simulate.outcome must be one of SUCCEED, FAIL, NEVER_FINISH" in done["cause"]
    assert end_state(target, arn) == "Error"


def test_two_pollers_at_once_give_every_execution_exactly_one_callback(
    target: Target, stack: StackInfo, paused_schedule
) -> None:
    arns = [start(target, stack, {"simulate": {"completionPolls": 1}}) for _ in range(30)]
    wait_for(lambda: all(job_id_of(target, a) for a in arns), timeout=60, what="30 tokens stored")

    lambda_client = target.client("lambda")
    summaries: list[dict[str, Any]] = []

    def run_poller() -> None:
        response = lambda_client.invoke(FunctionName=stack.poller_function, Payload=b"{}")
        summaries.append(json.loads(response["Payload"].read()))

    threads = [threading.Thread(target=run_poller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(summaries) == 2 and all("succeeded" in s for s in summaries), summaries
    print(f"two concurrent runs: {summaries}")
    # Whatever the two runs left (out of time, a slow status check), the schedule finishes.
    paused_schedule()
    for arn in arns:
        done = _finished(target, arn, timeout=60)
        assert done["status"] == "SUCCEEDED"
        events = history(target, arn)
        kinds = Counter(e["type"] for e in events)
        # A CreateJob invoke throttled by create_job's reserved concurrency (30 starts in quick succession) is a
        # TaskFailed the state machine retries; any other TaskFailed would be a failure callback.
        failed = [e["taskFailedEventDetails"].get("error") for e in events if e["type"] == "TaskFailed"]
        assert kinds["TaskSucceeded"] == 1 and set(failed) <= {"Lambda.TooManyRequestsException"}, failed
    # Step Functions would refuse a second callback anyway: count what the pollers sent, per token.
    sends = accepted_final_sends(target, [token_record(target, stack, job_id_of(target, a) or "") for a in arns])
    assert sends == [1] * 30, sends


def test_fifty_executions_at_once_all_finish_correctly(target: Target, stack: StackInfo) -> None:
    plan = (
        [({"simulate": {"outcome": "SUCCEED"}}, ("SUCCEEDED", None))] * 40
        + [({"simulate": {"outcome": "FAIL", "completionPolls": 2}}, ("FAILED", "JobFailed"))] * 5
        + [({"simulate": {"outcome": "NEVER_FINISH"}, "maxAttempts": 2}, ("FAILED", "MaxAttemptsExceeded"))] * 5
    )
    arns = [start(target, stack, execution_input) for execution_input, _ in plan]
    sfn = target.client("stepfunctions")
    deadline = time.monotonic() + 180
    results: dict[str, tuple[str, str | None]] = {}
    while len(results) < len(arns) and time.monotonic() < deadline:
        for arn in arns:
            if arn not in results:
                d = sfn.describe_execution(executionArn=arn)
                if d["status"] in TERMINAL:
                    results[arn] = (d["status"], d.get("error"))
        time.sleep(1)
    assert len(results) == len(arns), f"{len(arns) - len(results)} executions still running after 180 s"
    assert [results[arn] for arn in arns] == [expected for _, expected in plan]


def _invoke_with_logs(target: Target, function: str, event: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The function's answer and the JSON lines it wrote (LogType=Tail: the last 4 KB, whose first
    line may be cut)."""
    response = target.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode(), LogType="Tail")
    lines = []
    for line in base64.b64decode(response["LogResult"]).decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            lines.append(json.loads(line))
    return response, [line for line in lines if isinstance(line, dict)]


def test_the_deployed_create_job_reserves_the_local_stages_concurrency(target: Target, stack: StackInfo) -> None:
    """The local stage reserves 10 create_job invocations so a burst waits in Step Functions'
    throttling retries; the local cloud must apply the template's reservation (LocalStack core
    ignores it), and the other functions stay unreserved."""
    from stacks.config import STAGES

    lambda_ = target.client("lambda")
    reserved = {
        name: lambda_.get_function_concurrency(FunctionName=f).get("ReservedConcurrentExecutions")
        for name, f in stack.functions().items()
    }
    local = STAGES["local"]
    assert reserved == {
        "create-job": local.create_job_reserved_concurrency,
        "poller": local.poller_reserved_concurrency,
        "simulated-api": local.simulated_api_reserved_concurrency,
    }
    assert reserved["create-job"] == 10


def test_the_deployed_handlers_log_and_count_through_powertools_from_their_layer(
    target: Target, stack: StackInfo
) -> None:
    """The local cloud's Lambda runtime has only boto3: Powertools comes from the stack's dependencies
    layer. A poller run logs JSON lines with its request id and cold start (Powertools Logger) and
    writes its counts as one EMF document (Powertools Metrics) under the alarms' dimension, also
    when the run fails."""
    lambda_ = target.client("lambda")
    layers = {
        name: lambda_.get_function_configuration(FunctionName=f)["Layers"] for name, f in stack.functions().items()
    }
    assert len({layer["Arn"] for used in layers.values() for layer in used}) == 1 and all(layers.values())

    response, lines = _invoke_with_logs(target, stack.poller_function, {})
    assert "FunctionError" not in response
    [finished] = [line for line in lines if line.get("message") == "poller run finished"]
    assert (finished["level"], finished["service"], finished["function_name"]) == (
        "INFO",
        "poller",
        stack.poller_function,
    )
    assert isinstance(finished["cold_start"], bool) and finished["function_request_id"]
    assert "summary" in finished and "jobId" not in finished

    response, lines = _invoke_with_logs(target, stack.poller_function, {"jobId": "e2e-no-such-job"})
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "UnknownJob"
    [emf] = [line for line in lines if "_aws" in line]  # the failed run's metrics are still written
    [directive] = emf["_aws"]["CloudWatchMetrics"]
    assert (directive["Namespace"], directive["Dimensions"]) == ("CallbackPattern/Poller", [["FunctionName"]])
    assert emf["FunctionName"] == stack.poller_function and emf["JobsSucceeded"] == [0.0]
