"""Fault scenarios against a deployed stack: each starts executions, injects one fault, waits for
every execution to end, and counts what the guarantees are about.

- lost: executions that did not reach the end state the scenario expects;
- duplicateJobs: external jobs started more than once for one execution (jobs table, by idempotency key);
- duplicateSends: jobs whose task token accepted more than one final callback (SendTaskSuccess/Failure),
  counted at the service by the local cloud's per-token counters (other targets: not counted, null).

Used by `callbackctl chaos` and by tests/e2e/test_faults.py, which asserts 0 lost and 0 duplicates.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from callbackctl.deployment import StackInfo, Target, set_schedule_state, stack_info
from callbackctl.errors import UsageError

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
FINAL_SENDS = ("SendTaskSuccess", "SendTaskFailure")
Expected = tuple[str, str | None]  # (execution status, error)
Progress = Callable[[str], None]


@dataclass(kw_only=True)
class ScenarioResult:
    scenario: str
    executions: int
    expected: int  # executions that should reach their expected end (all of them)
    reached: int
    lost: int
    duplicateJobs: int
    duplicateSends: int | None
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.duplicateJobs == 0 and not self.duplicateSends and self.reached == self.expected


@dataclass(kw_only=True)
class Chaos:
    """The scenarios, for one target and deployed stack."""

    target: Target
    info: StackInfo
    heartbeat_seconds: float  # the deployed stage's heartbeat timeout
    interval_seconds: float  # real seconds between poller runs
    progress: Progress = print
    _started: list[str] = field(default_factory=list)

    # --- scenarios -------------------------------------------------------------------------
    def burst(self, count: int = 500) -> ScenarioResult:
        """count executions started at once, mixed outcomes."""
        plan: list[tuple[dict[str, Any], Expected]] = []
        for index in range(count):
            if index % 10 == 8:
                plan.append(({"simulate": {"outcome": "FAIL", "completionPolls": 2}}, ("FAILED", "JobFailed")))
            elif index % 10 == 9:
                never: dict[str, Any] = {"simulate": {"outcome": "NEVER_FINISH"}, "maxAttempts": 2}
                plan.append((never, ("FAILED", "MaxAttemptsExceeded")))
            else:
                plan.append(({"simulate": {"completionPolls": 2}}, ("SUCCEEDED", None)))
        return self._run("burst", plan, timeout=max(240.0, count * 0.8))

    def api_outage(self, count: int = 20) -> ScenarioResult:
        """The job API fails every status check for twice the heartbeat timeout."""
        plan = [({"simulate": {"completionPolls": 2}}, ("SUCCEEDED", None))] * count
        outage = 2 * self.heartbeat_seconds

        def fault(arns: list[str]) -> list[str]:
            self._wait_for_records(arns)
            with self._api_faults({"checkStatus": "unavailable"}):
                self.progress(f"  job API down for {outage:g} s")
                time.sleep(outage)
                running = sum(self._status(arn)[0] == "RUNNING" for arn in arns)
            return [f"{running}/{len(arns)} executions still waiting when the API came back"]

        return self._run("api-outage", plan, timeout=outage + 120, fault=fault)

    def poller_killed(self, count: int = 200) -> ScenarioResult:
        """A poller run is killed mid-batch (its process on the local cloud, else its timeout)."""
        plan = [({"simulate": {"completionPolls": 1}}, ("SUCCEEDED", None))] * count

        def fault(arns: list[str]) -> list[str]:
            self._schedule("DISABLED")
            try:
                self._wait_for_records(arns)
                return [self._kill_a_poller_run()]
            finally:
                self._schedule("ENABLED")

        return self._run("poller-killed", plan, timeout=180, fault=fault)

    def stop_execution(self, count: int = 5) -> ScenarioResult:
        """Waiting executions are stopped: ABORTED, record CANCELLED, job cancelled at the API."""
        plan = [({"simulate": {"outcome": "NEVER_FINISH"}}, ("ABORTED", None))] * count
        checks: list[str] = []

        def fault(arns: list[str]) -> list[str]:
            jobs = self._wait_for_records(arns)
            sfn = self.target.client("stepfunctions")
            for arn in arns:
                sfn.stop_execution(executionArn=arn, error="ChaosStop", cause="callbackctl chaos")
            stopped = time.monotonic()
            deadline = stopped + 3 * self.interval_seconds + 30
            while time.monotonic() < deadline:
                states = [self._record(job)["status"] for job in jobs.values()]
                if all(s == "CANCELLED" for s in states):
                    break
                time.sleep(0.5)
            took = time.monotonic() - stopped
            cancelled = sum(self._record(job)["status"] == "CANCELLED" for job in jobs.values())
            jobs_cancelled = sum(self._job(job).get("status") == "CANCELLED" for job in jobs.values())
            checks.append(f"records CANCELLED {cancelled}/{len(jobs)} after {took:.1f} s")
            checks.append(f"jobs cancelled at the API {jobs_cancelled}/{len(jobs)}")
            if cancelled < len(jobs) or jobs_cancelled < len(jobs):
                checks.append("FAILED: a stopped execution's record or job was not cancelled")
            return checks

        result = self._run("stop-execution", plan, timeout=60, fault=fault)
        if any(note.startswith("FAILED") for note in checks):
            result.lost = max(result.lost, 1)
        return result

    def create_job_timeout(self, delay_seconds: float = 20) -> ScenarioResult:
        """create_job times out after the API started the job; the retry finds the same job."""
        plan = [({"simulate": {"completionPolls": 1}}, ("SUCCEEDED", None))]
        with self._api_faults({"createDelaySeconds": delay_seconds}):
            result = self._run("create-job-timeout", plan, timeout=delay_seconds + 120)
        retried = sum(self._retries(arn) for arn in self._started[-1:])
        result.notes.append(f"CreateJob retried {retried} time(s)")
        if retried < 1:
            result.notes.append("FAILED: the fault did not make create_job time out")
            result.lost = max(result.lost, 1)
        return result

    def malformed_input(self) -> ScenarioResult:
        """Every class of bad input ends in Error/InvalidJobInput within 2 s."""
        bad: list[Any] = [
            [],
            "x",
            7,
            True,
            {"simulate": {"outcome": "EXPLODE"}},
            {"maxAttempts": "3"},
            {"colour": "red"},
            {"payload": {"blob": "x" * 70_000}},
        ]
        plan = [(value, ("FAILED", "InvalidJobInput")) for value in bad]
        result = self._run("malformed-input", plan, timeout=60)
        slow = [arn for arn in self._started[-len(bad) :] if self._duration(arn) > 2.0]
        result.notes.append(f"slowest {max(self._duration(a) for a in self._started[-len(bad) :]):.2f} s")
        if slow:
            result.notes.append(f"FAILED: {len(slow)} took more than 2 s")
            result.lost = max(result.lost, len(slow))
        return result

    # --- the common run --------------------------------------------------------------------
    def _run(
        self,
        name: str,
        plan: Sequence[tuple[Any, Expected]],
        *,
        timeout: float,
        fault: Callable[[list[str]], list[str]] | None = None,
    ) -> ScenarioResult:
        self.progress(f"[{name}] starting {len(plan)} execution(s)")
        began = time.monotonic()
        jobs_before = set(self._job_ids())
        arns = self._start([execution_input for execution_input, _ in plan])
        notes: list[str] = []
        if fault is not None:
            notes += fault(arns)
        ends = self._wait_all(arns, timeout=timeout, what=name)
        reached = sum(ends[arn] == expected for arn, (_, expected) in zip(arns, plan, strict=True))
        mismatched = Counter(f"{ends[a]}" for a, (_, e) in zip(arns, plan, strict=True) if ends[a] != e)
        if mismatched:
            notes.append("unexpected ends: " + ", ".join(f"{k} x{v}" for k, v in mismatched.items()))
        new_jobs = [job for job in self._job_ids() if job not in jobs_before]
        return ScenarioResult(
            scenario=name,
            executions=len(arns),
            expected=len(plan),
            reached=reached,
            lost=len(plan) - reached,
            duplicateJobs=self._duplicate_jobs(arns, new_jobs),
            duplicateSends=self._duplicate_sends(arns),
            seconds=round(time.monotonic() - began, 1),
            notes=notes,
        )

    def _start(self, inputs: list[Any]) -> list[str]:
        sfn = self.target.client("stepfunctions")

        def start(execution_input: Any) -> str:
            text = json.dumps(execution_input)
            return str(sfn.start_execution(stateMachineArn=self.info.state_machine_arn, input=text)["executionArn"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            arns = list(pool.map(start, inputs))
        self._started += arns
        return arns

    def _wait_all(self, arns: list[str], *, timeout: float, what: str) -> dict[str, Expected]:
        ends: dict[str, Expected] = {}
        deadline = time.monotonic() + timeout
        last = 0.0
        while len(ends) < len(arns) and time.monotonic() < deadline:
            for arn in arns:
                if arn not in ends:
                    status, error = self._status(arn)
                    if status in TERMINAL:
                        ends[arn] = (status, error)
            if time.monotonic() - last > 10:
                self.progress(f"  [{what}] {len(ends)}/{len(arns)} ended")
                last = time.monotonic()
            if len(ends) < len(arns):
                time.sleep(1)
        return {arn: ends.get(arn, ("RUNNING", None)) for arn in arns}

    def _status(self, arn: str) -> Expected:
        described = self.target.client("stepfunctions").describe_execution(executionArn=arn)
        return str(described["status"]), described.get("error")

    def _duration(self, arn: str) -> float:
        described = self.target.client("stepfunctions").describe_execution(executionArn=arn)
        stop = described.get("stopDate")
        return (stop - described["startDate"]).total_seconds() if stop else float("inf")

    def _retries(self, arn: str) -> int:
        sfn = self.target.client("stepfunctions")
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return max(0, sum(e["type"] == "LambdaFunctionScheduled" or e["type"] == "TaskScheduled" for e in events) - 1)

    # --- records, jobs and counted sends ---------------------------------------------------
    def _records_by_execution(self) -> dict[str, dict[str, Any]]:
        ddb = self.target.client("dynamodb")
        out: dict[str, dict[str, Any]] = {}
        for page in ddb.get_paginator("scan").paginate(TableName=self.info.task_tokens_table):
            for item in page["Items"]:
                plain = {k: next(iter(v.values())) for k, v in item.items()}
                out[str(plain["executionArn"])] = plain
        return out

    def _wait_for_records(self, arns: list[str], timeout: float = 120) -> dict[str, str]:
        """execution ARN -> job id, once create_job stored every record."""
        deadline = time.monotonic() + timeout
        while True:
            records = self._records_by_execution()
            if all(arn in records for arn in arns):
                return {arn: str(records[arn]["jobId"]) for arn in arns}
            if time.monotonic() > deadline:
                raise UsageError(f"create_job stored {sum(a in records for a in arns)}/{len(arns)} records")
            time.sleep(1)

    def _record(self, job_id: str) -> dict[str, Any]:
        item = self.target.client("dynamodb").get_item(
            TableName=self.info.task_tokens_table, Key={"jobId": {"S": job_id}}, ConsistentRead=True
        )["Item"]
        return {k: next(iter(v.values())) for k, v in item.items()}

    def _job(self, job_id: str) -> dict[str, Any]:
        item = (
            self.target.client("dynamodb")
            .get_item(TableName=self.info.jobs_table, Key={"jobId": {"S": job_id}}, ConsistentRead=True)
            .get("Item", {})
        )
        return {k: next(iter(v.values())) for k, v in item.items()}

    def _job_ids(self) -> list[str]:
        ddb = self.target.client("dynamodb")
        ids: list[str] = []
        for page in ddb.get_paginator("scan").paginate(TableName=self.info.jobs_table, ProjectionExpression="jobId"):
            ids += [item["jobId"]["S"] for item in page["Items"]]
        return ids

    def _duplicate_jobs(self, arns: list[str], new_jobs: Iterable[str]) -> int:
        """Jobs started beyond one per execution (an execution's retries must reuse its job)."""
        keys = Counter(self._job(job).get("idempotencyKey") for job in new_jobs)
        ours = {hashlib.sha256(f"{arn}#0".encode()).hexdigest() for arn in arns}
        return sum(count - 1 for key, count in keys.items() if key in ours and count > 1) + sum(
            count for key, count in keys.items() if key not in ours and key is not None
        )

    def _duplicate_sends(self, arns: list[str]) -> int | None:
        """Jobs whose token accepted more than one final callback (local cloud only)."""
        counters = self._callback_counters()
        if counters is None:
            return None
        records = self._records_by_execution()
        fingerprints = {_fingerprint(str(records[a]["taskToken"])) for a in arns if a in records}
        accepted: Counter[str] = Counter()
        for row in counters:
            if row.get("operation") in FINAL_SENDS and row.get("token") in fingerprints:
                accepted[row["token"]] += int(row.get("accepted", 0))
        return sum(1 for count in accepted.values() if count > 1)

    def _callback_counters(self) -> list[dict[str, Any]] | None:
        if self.target.name != "localcloud" or not self.target.endpoint_url:
            return None
        with urllib.request.urlopen(f"{self.target.endpoint_url}/_localcloud/counters", timeout=10) as response:
            return list(json.loads(response.read()).get("callbacks", []))

    # --- faults ------------------------------------------------------------------------------
    def _api_faults(self, faults: dict[str, Any]) -> _FunctionEnvironment:
        variables = {"SIMULATED_FAULTS": json.dumps(faults)}
        return _FunctionEnvironment(self.target, self.info.simulated_api_function, variables)

    def _schedule(self, state: str) -> None:
        set_schedule_state(self.target, self.info.poller_schedule, state)

    def _kill_a_poller_run(self) -> str:
        lam = self.target.client("lambda")
        lam.invoke(FunctionName=self.info.poller_function, InvocationType="Event", Payload=b"{}")
        if self.target.name == "localcloud" and self.target.endpoint_url:
            time.sleep(1.5)  # let the run claim part of the batch
            request = urllib.request.Request(
                f"{self.target.endpoint_url}/_localcloud/lambda/kill",
                data=json.dumps({"functionName": self.info.poller_function}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                killed = json.loads(response.read()).get("killed", 0)
            return f"killed {killed} poller process(es) mid-batch"
        return "poller run left to time out (no kill hook on this target)"


def _fingerprint(token: str) -> str:
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()[:12]


class _FunctionEnvironment:
    """Adds variables to a function's environment for a while, then restores it exactly."""

    def __init__(self, target: Target, function: str, variables: dict[str, str]) -> None:
        self.lam, self.function, self.variables = target.client("lambda"), function, variables
        self.before: dict[str, str] = {}

    def __enter__(self) -> None:
        self.before = self.lam.get_function_configuration(FunctionName=self.function)["Environment"]["Variables"]
        self._set({**self.before, **self.variables})

    def __exit__(self, *_: object) -> None:
        self._set(self.before)

    def _set(self, variables: dict[str, str]) -> None:
        self.lam.update_function_configuration(FunctionName=self.function, Environment={"Variables": variables})
        self.lam.get_waiter("function_updated_v2").wait(FunctionName=self.function)


SCENARIOS = ("burst", "api-outage", "poller-killed", "stop-execution", "create-job-timeout", "malformed-input")


def run_scenarios(target: Target, names: Iterable[str], *, burst: int, progress: Progress) -> list[ScenarioResult]:
    info = stack_info(target)
    heartbeat, interval = _deployed_timing(target, info)
    chaos = Chaos(target=target, info=info, heartbeat_seconds=heartbeat, interval_seconds=interval, progress=progress)
    runners: dict[str, Callable[[], ScenarioResult]] = {
        "burst": lambda: chaos.burst(burst),
        "api-outage": chaos.api_outage,
        "poller-killed": chaos.poller_killed,
        "stop-execution": chaos.stop_execution,
        "create-job-timeout": chaos.create_job_timeout,
        "malformed-input": chaos.malformed_input,
    }
    return [runners[name]() for name in names]


def _deployed_timing(target: Target, info: StackInfo) -> tuple[float, float]:
    """(heartbeat timeout, seconds between poller runs) as deployed."""
    sfn = target.client("stepfunctions")
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=info.state_machine_arn)["definition"])
    heartbeat = float(definition["States"]["CreateJob"]["HeartbeatSeconds"])
    env = target.client("lambda").get_function_configuration(FunctionName=info.poller_function)["Environment"]
    return heartbeat, float(env["Variables"]["POLL_INTERVAL_SECONDS"])


def format_table(results: list[ScenarioResult]) -> str:
    lines = [
        f"{'scenario':20} {'executions':>10} {'expected':>8} {'reached':>7} {'lost':>4} "
        f"{'dup jobs':>8} {'dup sends':>9} {'seconds':>7}"
    ]
    for r in results:
        sends = "n/a" if r.duplicateSends is None else str(r.duplicateSends)
        lines.append(
            f"{r.scenario:20} {r.executions:>10} {r.expected:>8} {r.reached:>7} {r.lost:>4} {r.duplicateJobs:>8} "
            f"{sends:>9} {r.seconds:>7.1f}"
        )
        lines += [f"    {note}" for note in r.notes]
    return "\n".join(lines)


def results_json(results: list[ScenarioResult]) -> str:
    return json.dumps([{**asdict(r), "passed": r.passed} for r in results], indent=2)
