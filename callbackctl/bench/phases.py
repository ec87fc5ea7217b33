"""The bench's measured phases on the local cloud: warm-up, idle, and one cost phase per polls-per-job setting."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from callbackctl.bench.billing import (
    AWS_MAX_TOKEN_CHARS,
    LEASE_WRITES_PER_RUN,
    IdleRun,
    LambdaCount,
    PollStateCounts,
    TokenTableCounts,
    Transitions,
    count_transitions,
    item_bytes,
    lambda_count,
    request_count,
)
from callbackctl.bench.measured import calibrated_workload, callback_measured, loop_measured, measured_dict
from callbackctl.bench.seed import poll_state
from callbackctl.bench.settings import BenchSettings
from callbackctl.bench.stacks import Deployment
from callbackctl.cost.model import Design, LambdaProfile, Workload, design_usage
from callbackctl.cost.usage import MeasuredUsage
from callbackctl.deployment.executions import TERMINAL, history, start_executions, wait_for
from callbackctl.deployment.schedule import ScheduleState, set_schedule_state
from callbackctl.deployment.tables import empty_table, scan_items
from callbackctl.errors import CommandFailed, TimedOut
from common.records import DUE_AT, DUE_SHARD, FINAL_STATUSES, HEARTBEAT_AT, INTERVAL, TABLE_KEY, Attr

# The poller's claim attributes, on a poll state while a run holds it (poller/store.py).
CLAIM = {Attr.CLAIM_OWNER: {"S": "poller-0123456789ab"}, Attr.SENDING: {"BOOL": True}}
Item = dict[str, Any]


def log_line(started: float, message: str) -> None:
    elapsed = int(time.monotonic() - started)
    print(f"[bench {elapsed // 60}:{elapsed % 60:02d}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Window:
    """What one cost phase ran and counted: both designs' executions, the records left, the counters."""

    loop_arns: list[str]
    callback_arns: list[str]
    records: list[Item]
    counters: dict[str, Any]
    seconds: float
    firings: int


class Bench:
    """One bench run on a deployment: the local cloud's counters, the schedule, the executions."""

    def __init__(self, dep: Deployment, settings: BenchSettings, started: float) -> None:
        self.dep = dep
        self.settings = settings
        self.started = started
        self.target = dep.target
        self.interval_seconds = dep.schedule_interval_seconds

    def log(self, message: str) -> None:
        log_line(self.started, message)

    def counters(self, *, reset: bool) -> dict[str, Any]:
        from localcloud.core import counters

        return counters(self.dep.endpoint, reset=reset)

    def schedule_firings(self) -> int:
        from localcloud.core import scheduler_stats

        stats = scheduler_stats(self.dep.endpoint)
        suffix = f"/{self.dep.poller_schedule}"
        return sum(int(s.get("fired", 0)) for arn, s in stats.get("schedules", {}).items() if arn.endswith(suffix))

    def set_schedule(self, state: ScheduleState) -> None:
        self.set_schedules(state)

    def set_schedules(self, state: ScheduleState) -> None:
        """Every shard's schedule (StackInfo.poller_schedules): paused while a phase measures."""
        for name in self.dep.poller_schedules:
            set_schedule_state(self.target, name, state)

    def empty(self, table: str, workers: int = 4) -> None:
        empty_table(self.target, table, workers=workers)

    def start(self, state_machine_arn: str, execution_input: dict[str, Any], count: int, prefix: str) -> list[str]:
        runs = start_executions(self.target, state_machine_arn, [execution_input] * count, prefix=prefix, workers=8)
        return [arn for _, arn in runs]

    def wait(self, arns: list[str], timeout: float, what: str) -> dict[str, str]:
        statuses = wait_for(self.target, arns, timeout=timeout, interval=0.5, workers=8)
        running = sum(1 for status in statuses.values() if status not in TERMINAL)
        if running:
            raise TimedOut(f"{what}: {running} of {len(arns)} executions still running after {timeout:.0f} s")
        return statuses

    def transitions(self, arns: list[str]) -> Transitions:
        total = Transitions()
        with ThreadPoolExecutor(max_workers=8) as pool:
            for each in pool.map(lambda arn: count_transitions(history(self.target, arn)), arns):
                total = total + each
        return total

    def warm_up(self) -> None:
        """Both designs once, unmeasured, so the measured phases run on warm Lambda workers."""
        s, dep = self.settings, self.dep
        execution_input = {"simulate": {"outcome": "SUCCEED", "completionPolls": 1}, "payload": {"warmUp": True}}
        arns = [
            *self.start(dep.loop_state_machine_arn, execution_input, s.jobs, "bench-warm-loop"),
            *self.start(dep.state_machine_arn, execution_input, s.jobs, "bench-warm-cb"),
        ]
        self.wait(arns, 60 + 4 * self.interval_seconds, "warm-up")

    def idle(self) -> tuple[IdleRun, dict[str, Any]]:
        """Let the schedule fire with nothing pending; measure one idle run."""
        self.empty(self.dep.task_tokens_table)
        time.sleep(self.interval_seconds + 1)  # the first runs start the poller's worker: not measured
        fired_before = self.schedule_firings()
        self.counters(reset=True)
        began = time.monotonic()
        time.sleep(self.settings.idle_seconds)
        snap = self.counters(reset=True)
        seconds = time.monotonic() - began
        poller = lambda_count(snap, self.dep.poller_function)
        if poller.invocations == 0:
            raise CommandFailed(
                f"the poller's schedule did not fire in {seconds:.0f} s; is the scheduler running "
                f"(clock speed {self.dep.clock_speed:g})?"
            )
        queries = request_count(snap, "dynamodb", "Query", self.dep.poll_state_table)
        leases = request_count(snap, "dynamodb", "UpdateItem", self.dep.poll_state_table)
        idle = IdleRun(
            poller_gb_s=poller.gb_s / poller.invocations,
            poller_ms=poller.avg_ms,
            read_units=0.5 * queries / poller.invocations,
            write_units=leases / poller.invocations,
        )
        return idle, {
            "seconds": round(seconds, 2),
            "firings": self.schedule_firings() - fired_before,
            "pollerRuns": poller.invocations,
            "pollerAvgBilledMs": round(poller.avg_ms, 2),
            "pollerMemoryMb": poller.memory_mb,
            "queries": queries,
            "leaseWrites": leases,
            "idleRun": asdict(idle),
            "counters": snap,
        }

    def _run_both(self, polls: int) -> Window:
        """The same jobs through both designs at once, until every token record has its final status."""
        s, dep = self.settings, self.dep
        self.empty(dep.task_tokens_table)
        execution_input = {
            "simulate": {"outcome": "SUCCEED", "completionPolls": polls},
            "payload": {"bench": True, "pollsPerJob": polls},
        }
        fired_before = self.schedule_firings()
        self.counters(reset=True)
        began = time.monotonic()
        loop_arns = self.start(dep.loop_state_machine_arn, execution_input, s.jobs, f"bench-loop-p{polls}")
        callback_arns = self.start(dep.state_machine_arn, execution_input, s.jobs, f"bench-cb-p{polls}")
        statuses = self.wait([*loop_arns, *callback_arns], 60 + polls * self.interval_seconds * 4, f"{polls} polls/job")
        # The run that resumed the last execution writes the final status right after the send.
        deadline = time.monotonic() + 30
        while True:
            records = scan_items(self.target, dep.task_tokens_table, consistent=True)
            if all(r["status"]["S"] in FINAL_STATUSES for r in records) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(1.0)
        snap = self.counters(reset=True)
        failed = sorted({status for status in statuses.values() if status != "SUCCEEDED"})
        if failed:
            raise CommandFailed(f"bench executions did not succeed: {', '.join(failed)}")
        fired = self.schedule_firings() - fired_before
        return Window(loop_arns, callback_arns, records, snap, time.monotonic() - began, fired)

    def cost_phase(self, polls: int, idle: IdleRun) -> dict[str, Any]:
        """Counts per design for one polls-per-job setting (priced later by ``measured.price_phase``)."""
        window = self._run_both(polls)
        return phase_record(self, polls, idle, window)


def poll_state_sizes() -> tuple[int, int]:
    """Bytes of a claimed poll state (with the poller's claim and sending attributes) and of its ByDue
    entry (table key, index keys, projected heartbeatAt and intervalMs), as create_job writes it."""
    state = {**poll_state("0" * 36, datetime.now(UTC), shard="0", due_ms=1, interval_ms=1), **CLAIM}
    for key in (DUE_AT, HEARTBEAT_AT, INTERVAL):  # epoch ms and intervals: 13 and 6 digits
        state[key] = {"N": "1790000000000" if key != INTERVAL else "180000"}
    entry = {k: state[k] for k in (TABLE_KEY, DUE_SHARD, DUE_AT, HEARTBEAT_AT, INTERVAL)}
    return item_bytes(state), item_bytes(entry)


def table_counts(
    snap: dict[str, Any], dep: Deployment, records: list[Item], poller_runs: int
) -> tuple[TokenTableCounts, PollStateCounts, int]:
    """Both job tables' requests in the window, sized by the token records left and a claimed poll
    state; and the token length."""
    tokens, poll = dep.task_tokens_table, dep.poll_state_table
    state_bytes, entry_bytes = poll_state_sizes()
    transactions = request_count(snap, "dynamodb", "TransactWriteItems")
    counts = TokenTableCounts(
        puts=request_count(snap, "dynamodb", "PutItem", tokens),
        updates=request_count(snap, "dynamodb", "UpdateItem", tokens),
        deletes=request_count(snap, "dynamodb", "DeleteItem", tokens),
        queries=request_count(snap, "dynamodb", "Query", poll),
        query_items=request_count(snap, "dynamodb", "Query", poll, key="items"),
        finals=sum(1 for r in records if r["status"]["S"] in FINAL_STATUSES),
        record_bytes=max((item_bytes(r) for r in records), default=0),
        index_entry_bytes=entry_bytes,
        transactions=transactions,
        indexed=False,
        token_reads=request_count(snap, "dynamodb", "GetItem", tokens),
    )
    states = PollStateCounts(
        puts=request_count(snap, "dynamodb", "PutItem", poll),
        updates=request_count(snap, "dynamodb", "UpdateItem", poll),
        deletes=request_count(snap, "dynamodb", "DeleteItem", poll),
        transactions=transactions,
        lease_writes=LEASE_WRITES_PER_RUN * poller_runs,
        state_bytes=state_bytes,
        index_entry_bytes=entry_bytes,
        # create_job upserts the poll state (UpdateItem) of each job started in the window
        upserts=min(len(records), request_count(snap, "dynamodb", "UpdateItem", poll)),
    )
    return counts, states, max((len(r[Attr.TASK_TOKEN]["S"]) for r in records), default=0)


@dataclass(frozen=True, kw_only=True)
class PhaseCounts:
    """What one cost phase counted, per design."""

    loop_transitions: Transitions
    callback_transitions: Transitions
    loop_api: LambdaCount
    create_job: LambdaCount
    api: LambdaCount
    poller: LambdaCount
    table: TokenTableCounts
    poll: PollStateCounts
    token_chars: int


def phase_counts(bench: Bench, window: Window) -> PhaseCounts:
    dep, snap = bench.dep, window.counters
    poller = lambda_count(snap, dep.poller_function)
    table, poll, token_chars = table_counts(snap, dep, window.records, poller.invocations)
    return PhaseCounts(
        loop_transitions=bench.transitions(window.loop_arns),
        callback_transitions=bench.transitions(window.callback_arns),
        loop_api=lambda_count(snap, dep.loop_api_function),
        create_job=lambda_count(snap, dep.create_job_function),
        api=lambda_count(snap, dep.api_function),
        poller=poller,
        table=table,
        poll=poll,
        token_chars=token_chars,
    )


def measured_usage(c: PhaseCounts, jobs: int, idle: IdleRun) -> dict[str, MeasuredUsage]:
    """Both designs' measured usage; the callback's also as if its tokens were AWS-sized. The fixed
    monthly part is added by ``measured.price_phase``, from the whole run's firing rate."""

    def callback(extra_token_bytes: int) -> MeasuredUsage:
        return callback_measured(
            jobs=jobs,
            transitions=c.callback_transitions,
            create_job=c.create_job,
            api=c.api,
            poller=c.poller,
            table=c.table,
            idle=idle,
            runs_per_month=0.0,
            extra_token_bytes=extra_token_bytes,
            poll=c.poll,
        )

    return {
        "callback": callback(0),
        "callbackAwsToken": callback(max(0, AWS_MAX_TOKEN_CHARS - c.token_chars)),
        "loop": loop_measured(jobs=jobs, transitions=c.loop_transitions, api=c.loop_api),
    }


def formula_usage(c: PhaseCounts, idle: IdleRun, polls: int, jobs_per_month: int) -> tuple[Workload, float]:
    """The cost model's workload set to what was measured, and the poller's time per status check."""
    checks = max(1, c.api.invocations - c.create_job.invocations)  # CHECK_STATUS calls by the poller
    per_check_ms = max(0.0, c.poller.billed_ms - c.poller.invocations * idle.poller_ms) / checks
    workload = calibrated_workload(
        polls=polls,
        jobs_per_month=jobs_per_month,
        create_job=c.create_job,
        api=c.api,
        poller_memory_mb=c.poller.memory_mb,
        idle=idle,
        poller_per_job_ms=per_check_ms,
        record_bytes=c.table.record_bytes,
        poll_state_bytes=c.poll.state_bytes,
        heartbeats_per_job=max(0, c.table.token_reads - c.table.finals) / jobs
        if (jobs := c.create_job.invocations)
        else None,
    )
    return workload, per_check_ms


def _formula(workload: Workload, loop_api: LambdaCount) -> dict[str, MeasuredUsage]:
    # The loop drives its own copy of the API: its formula uses that copy's durations.
    loop_api_profile = LambdaProfile(loop_api.memory_mb, loop_api.avg_ms)
    loop_workload = replace(workload, api_create=loop_api_profile, api_check=loop_api_profile)
    return {"callback": design_usage(workload, Design.CALLBACK), "loop": design_usage(loop_workload, Design.LOOP)}


def phase_record(bench: Bench, polls: int, idle: IdleRun, window: Window) -> dict[str, Any]:
    """Everything one cost phase measured, and its measured and formula usage (private keys: ``_``)."""
    s, dep, snap = bench.settings, bench.dep, window.counters
    c = phase_counts(bench, window)
    workload, per_check_ms = formula_usage(c, idle, polls, s.jobs_per_month)
    formula = _formula(workload, c.loop_api)
    functions = ((dep.create_job_function, c.create_job), (dep.api_function, c.api), (dep.poller_function, c.poller))
    sends = ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")
    return {
        "pollsPerJob": polls,
        "jobs": s.jobs,
        "seconds": round(window.seconds, 2),
        "scheduleFirings": window.firings,
        "loop": {
            "transitions": {**asdict(c.loop_transitions), "total": c.loop_transitions.total},
            "lambda": {dep.loop_api_function: asdict(c.loop_api)},
            "formula": measured_dict(formula["loop"]),
        },
        "callback": {
            "transitions": {**asdict(c.callback_transitions), "total": c.callback_transitions.total},
            "lambda": {name: asdict(count) for name, count in functions},
            "pollerRuns": c.poller.invocations,
            "pollerPerCheckMs": round(per_check_ms, 2),
            "stepFunctionsSends": {op: request_count(snap, "stepfunctions", op) for op in sends},
            "taskTokenTable": {**asdict(c.table), "tokenChars": c.token_chars, "writeUnits": c.table.write_units()},
            "pollStateTable": {**asdict(c.poll), "claims": c.poll.claims, "writeUnits": c.poll.write_units()},
            "formula": measured_dict(formula["callback"]),
        },
        "formulaWorkload": workload,
        "counters": snap,
        "_measured": measured_usage(c, s.jobs, idle),
        "_formula": formula,
    }
