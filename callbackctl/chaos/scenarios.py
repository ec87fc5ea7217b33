"""The fault scenarios: start executions, inject one fault, wait for every execution, count."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from callbackctl.chaos.observe import Expected, Observer
from callbackctl.chaos.result import ScenarioResult
from callbackctl.deployment import StackInfo, Target, set_schedule_state, stack_info
from callbackctl.deployment.executions import start_executions, wait_for
from callbackctl.deployment.functions import configuration, environment
from common.errors import INVALID_JOB_INPUT, JOB_FAILED, MAX_ATTEMPTS_EXCEEDED
from common.records import CANCELLED, Attr
from common.schedule import PollSchedule

# create-job-timeout: the API's create is delayed this long past create_job's own timeout (the
# simulated API's timeout outlasts both: stacks/simulated_api.py).
CREATE_DELAY_PAST_TIMEOUT_SECONDS = 5

SCENARIOS = ("burst", "api-outage", "poller-killed", "stop-execution", "create-job-timeout", "malformed-input")
Progress = Callable[[str], None]
Plan = Sequence[tuple[Any, Expected]]
SUCCEEDS: Expected = ("SUCCEEDED", None)
# Every class of bad input: not an object, wrong type, unknown key, out of range, too large.
MALFORMED_INPUTS: tuple[Any, ...] = (
    [],
    "x",
    7,
    True,
    {"simulate": {"outcome": "EXPLODE"}},
    {"maxAttempts": "3"},
    {"colour": "red"},
    {"maxAttempts": 100_000},
    {"pollIntervalSeconds": 1},
    {"payload": {"blob": "x" * 70_000}},
)


@dataclass(kw_only=True)
class Chaos:
    """The scenarios, for one target and deployed stack."""

    target: Target
    info: StackInfo
    heartbeat_seconds: float  # the deployed stage's heartbeat timeout
    interval_seconds: float  # real seconds between poller runs
    progress: Progress = print
    seen: Observer = field(init=False)

    def __post_init__(self) -> None:
        self.seen = Observer(target=self.target, info=self.info)

    def burst(self, count: int = 500) -> ScenarioResult:
        """count executions started at once: 80% succeed, 10% fail, 10% run out of attempts."""
        failing: tuple[Any, Expected] = (
            {"simulate": {"outcome": "FAIL", "completionPolls": 2}},
            ("FAILED", JOB_FAILED),
        )
        never = {"simulate": {"outcome": "NEVER_FINISH"}, "maxAttempts": 2}
        exhausted: tuple[Any, Expected] = (never, ("FAILED", MAX_ATTEMPTS_EXCEEDED))
        succeeding: tuple[Any, Expected] = ({"simulate": {"completionPolls": 2}}, SUCCEEDS)
        plan = [failing if i % 10 == 8 else exhausted if i % 10 == 9 else succeeding for i in range(count)]
        return self._run("burst", plan, timeout=max(240.0, count * 0.8))

    def api_outage(self, count: int = 20) -> ScenarioResult:
        """The job API fails every status check for twice the heartbeat timeout."""
        outage = 2 * self.heartbeat_seconds

        def fault(arns: list[str], result: ScenarioResult) -> None:
            self.seen.wait_for_records(arns)
            with _FunctionEnvironment(
                self.target, self.info.simulated_api_function, _faults(checkStatus="unavailable")
            ):
                self.progress(f"  job API down for {outage:g} s")
                time.sleep(outage)
                waiting = sum(self.seen.end(arn)[0] == "RUNNING" for arn in arns)
            result.notes.append(f"{waiting}/{len(arns)} executions still waiting when the API came back")

        plan = [({"simulate": {"completionPolls": 2}}, SUCCEEDS)] * count
        return self._run("api-outage", plan, timeout=outage + 120, fault=fault)

    def poller_killed(self, count: int = 200) -> ScenarioResult:
        """A poller run is killed mid-batch (its process on the local cloud, else it times out)."""

        def fault(arns: list[str], result: ScenarioResult) -> None:
            for schedule in self.info.poller_schedules:
                set_schedule_state(self.target, schedule, "DISABLED")
            try:
                jobs = set(self.seen.wait_for_records(arns).values())
                result.notes.append(self._kill_a_poller_run(jobs))
            finally:
                for schedule in self.info.poller_schedules:
                    set_schedule_state(self.target, schedule, "ENABLED")

        plan = [({"simulate": {"completionPolls": 1}}, SUCCEEDS)] * count
        return self._run("poller-killed", plan, timeout=180, fault=fault)

    def stop_execution(self, count: int = 5) -> ScenarioResult:
        """Waiting executions are stopped: ABORTED, record CANCELLED, job cancelled at the API."""

        def fault(arns: list[str], result: ScenarioResult) -> None:
            jobs = list(self.seen.wait_for_records(arns).values())
            for arn in arns:
                self.target.client("stepfunctions").stop_execution(executionArn=arn, error="ChaosStop", cause="chaos")
            stopped = time.monotonic()
            deadline = stopped + 3 * self.interval_seconds + 30
            while time.monotonic() < deadline and not all(self._cancelled(job) for job in jobs):
                time.sleep(0.5)
            records = sum(self.seen.record(job).get(Attr.STATUS) == CANCELLED for job in jobs)
            cancelled_jobs = sum(self.seen.job(job).get("status") == "CANCELLED" for job in jobs)
            result.notes.append(f"records CANCELLED {records}/{len(jobs)} after {time.monotonic() - stopped:.1f} s")
            result.notes.append(f"jobs cancelled at the API {cancelled_jobs}/{len(jobs)}")
            if records < len(jobs) or cancelled_jobs < len(jobs):
                result.fail("a stopped execution's record or job was not cancelled")

        plan = [({"simulate": {"outcome": "NEVER_FINISH"}}, ("ABORTED", None))] * count
        return self._run("stop-execution", plan, timeout=60, fault=fault)

    def create_job_timeout(self, delay_seconds: float | None = None) -> ScenarioResult:
        """create_job times out after the API started the job; the retry finds the same job. The
        API's create is delayed past create_job's timeout as deployed (default: 5 s past it)."""
        timeout = int(configuration(self.target, self.info.create_job_function)["Timeout"])
        if delay_seconds is None:
            delay_seconds = timeout + CREATE_DELAY_PAST_TIMEOUT_SECONDS
        with _FunctionEnvironment(
            self.target, self.info.simulated_api_function, _faults(createDelaySeconds=delay_seconds)
        ):
            result = self._run(
                "create-job-timeout", [({"simulate": {"completionPolls": 1}}, SUCCEEDS)], timeout=2 * timeout + 150
            )
        attempts = self.seen.task_attempts(result.arns[0])
        result.notes.append(f"CreateJob ran {attempts} time(s)")
        if attempts < 2:
            result.fail("the injected delay did not make create_job time out")
        return result

    def malformed_input(self) -> ScenarioResult:
        """Every class of bad input ends in Error/InvalidJobInput within 2 s."""
        plan = [(value, ("FAILED", INVALID_JOB_INPUT)) for value in MALFORMED_INPUTS]
        # One after another: each one's time is its own, not a queue behind the others' cold starts.
        result = self._run("malformed-input", plan, timeout=60, one_at_a_time=True)
        durations = [self.seen.duration(arn) for arn in result.arns]
        result.notes.append(f"slowest {max(durations):.2f} s")
        if max(durations) > 2.0:
            result.fail(f"{sum(d > 2.0 for d in durations)} took more than 2 s")
        return result

    def _run(
        self,
        name: str,
        plan: Plan,
        *,
        timeout: float,
        fault: Callable[[list[str], ScenarioResult], None] | None = None,
        one_at_a_time: bool = False,
    ) -> ScenarioResult:
        self.progress(f"[{name}] starting {len(plan)} execution(s)")
        began = time.monotonic()
        jobs_before = self.seen.job_ids()
        inputs = [execution_input for execution_input, _ in plan]
        if one_at_a_time:
            arns = []
            for index, execution_input in enumerate(inputs):
                [(_, arn)] = start_executions(
                    self.target, self.info.state_machine_arn, [execution_input], prefix=f"chaos-{name}-{index}"
                )
                wait_for(self.target, [arn], timeout=timeout, interval=0.2)
                arns.append(arn)
        else:
            started = start_executions(self.target, self.info.state_machine_arn, inputs, prefix=f"chaos-{name}")
            arns = [arn for _, arn in started]
        result = ScenarioResult(
            scenario=name,
            executions=len(arns),
            expected=len(plan),
            reached=0,
            lost=0,
            duplicateJobs=0,
            duplicateSends=None,
            seconds=0.0,
            arns=arns,
        )
        if fault is not None:
            fault(arns, result)
        # Gently: a burst's hundreds of DescribeExecution calls a second would slow the very target
        # the scenario measures.
        wait_for(
            self.target,
            arns,
            timeout=timeout,
            interval=max(2.0, len(arns) / 50),
            workers=4,
            on_change=self._report_progress(name, len(arns)),
        )
        ends = {arn: self.seen.end(arn) for arn in arns}
        wrong = Counter(str(ends[arn]) for arn, (_, expected) in zip(arns, plan, strict=True) if ends[arn] != expected)
        if wrong:
            result.notes.append("unexpected ends: " + ", ".join(f"{end} x{n}" for end, n in wrong.items()))
        result.reached = len(plan) - sum(wrong.values())
        result.lost = max(result.lost, sum(wrong.values()))
        result.duplicateJobs = self.seen.duplicate_jobs(arns, self.seen.job_ids() - jobs_before)
        result.duplicateSends = self.seen.duplicate_sends(arns)
        result.seconds = round(time.monotonic() - began, 1)
        return result

    def _report_progress(self, name: str, total: int) -> Callable[[dict[str, str]], None]:
        last = [0.0]

        def report(statuses: dict[str, str]) -> None:
            if time.monotonic() - last[0] >= 10:
                ended = sum(status != "RUNNING" for status in statuses.values())
                self.progress(f"  [{name}] {ended}/{total} ended")
                last[0] = time.monotonic()

        return report

    def _cancelled(self, job_id: str) -> bool:
        return self.seen.record(job_id).get(Attr.STATUS) == CANCELLED

    def _kill_a_poller_run(self, jobs: set[str]) -> str:
        self.target.client("lambda").invoke(
            FunctionName=self.info.poller_function, InvocationType="Event", Payload=b"{}"
        )
        if self.target.name == "localcloud" and self.target.endpoint_url:
            from localcloud import kill_lambda

            claimed = self._wait_for_a_claim(jobs, timeout=15)  # the run is mid-batch: kill it now
            killed = kill_lambda(self.info.poller_function, self.target.endpoint_url, wait_seconds=10)
            return f"killed {killed['killed']} poller process(es) mid-batch, after it claimed {claimed} job(s)"
        return "poller run left to time out (no kill hook on this target)"

    def _wait_for_a_claim(self, jobs: set[str], timeout: float) -> int:
        """Jobs of the batch the poller has claimed so far (each claim counts an attempt), once there is one."""
        ddb = self.target.client("dynamodb")
        deadline = time.monotonic() + timeout
        claimed = 0
        while not claimed and time.monotonic() < deadline:
            pages = ddb.get_paginator("scan").paginate(
                TableName=self.info.poll_state_table,
                FilterExpression="attemptCount > :zero",
                ExpressionAttributeValues={":zero": {"N": "0"}},
                ProjectionExpression="jobId",
            )
            claimed = sum(item["jobId"]["S"] in jobs for page in pages for item in page["Items"])
            if not claimed:
                time.sleep(0.05)
        return claimed


def _faults(**faults: Any) -> dict[str, str]:
    """The simulated API's SIMULATED_FAULTS variable (lambda_src/simulated_api/logic.py)."""
    return {"SIMULATED_FAULTS": json.dumps(faults)}


class _FunctionEnvironment:
    """Adds variables to a function's environment for a while, then restores it exactly."""

    def __init__(self, target: Target, function: str, variables: dict[str, str]) -> None:
        self.target, self.function, self.variables = target, function, variables
        self.before: dict[str, str] = {}

    def __enter__(self) -> None:
        self.before = environment(self.target, self.function)
        self._set({**self.before, **self.variables})

    def __exit__(self, *_: object) -> None:
        self._set(self.before)

    def _set(self, variables: dict[str, str]) -> None:
        lam = self.target.client("lambda")
        lam.update_function_configuration(FunctionName=self.function, Environment={"Variables": variables})
        lam.get_waiter("function_updated_v2").wait(FunctionName=self.function)


def run_scenarios(target: Target, names: Iterable[str], *, burst: int, progress: Progress) -> list[ScenarioResult]:
    info = stack_info(target)
    definition = json.loads(
        target.client("stepfunctions").describe_state_machine(stateMachineArn=info.state_machine_arn)["definition"]
    )
    variables = configuration(target, info.poller_function)["Environment"]["Variables"]
    interval = PollSchedule.from_json(variables["POLL_SCHEDULE"]).min_initial  # one schedule interval
    chaos = Chaos(
        target=target,
        info=info,
        heartbeat_seconds=float(definition["States"]["CreateJob"]["HeartbeatSeconds"]),
        interval_seconds=interval,
        progress=progress,
    )
    runners: dict[str, Callable[[], ScenarioResult]] = {
        "burst": lambda: chaos.burst(burst),
        "api-outage": chaos.api_outage,
        "poller-killed": chaos.poller_killed,
        "stop-execution": chaos.stop_execution,
        "create-job-timeout": chaos.create_job_timeout,
        "malformed-input": chaos.malformed_input,
    }
    return [runners[name]() for name in names]
