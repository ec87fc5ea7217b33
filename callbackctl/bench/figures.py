"""The bench's figures against their targets (issue 8), pure: from the measured result to lines of
``figure  value  target  PASS/FAIL  (what it measures)``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from callbackctl.bench.billing import AWS_MAX_TOKEN_CHARS
from callbackctl.cost.model import Design, Workload, design_cost, design_usage
from callbackctl.cost.prices import Prices, price_usage
from callbackctl.cost.usage import Usage

TIME_RATIO_MAX = 1.2
FLOOR_FRACTION_MIN = 0.7
WRITES_PER_POLL_TARGET = 1.0
COST_RATIO_MAX = 0.13
COST_RATIO_FROM_POLLS = 7
BENCH_MINUTES_MAX = 20.0  # the whole `make bench`, on the machine it runs on
READ_RATIO_MAX = 1.05  # index items read per due job (a page boundary may read a few more)


@dataclass(frozen=True)
class Figure:
    name: str
    value: float | None
    unit: str
    target: str
    passed: bool | None  # None: reported, no target
    measures: str
    note: str = ""

    def line(self) -> str:
        value = (
            "n/a" if self.value is None else f"{self.value:,.3g}" if abs(self.value) < 1000 else f"{self.value:,.0f}"
        )
        verdict = "-" if self.passed is None else "PASS" if self.passed else "FAIL"
        text = f"  {self.name:<44} {value:>9} {self.unit:<8} {self.target:<18} {verdict:<4}  {self.measures}"
        return text + (f"\n  {'':<44} {'':>9} {'':<8} {'':<18} {'':<4}  {self.note}" if self.note else "")


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _check(value: float | None, ok: bool) -> bool | None:
    return None if value is None else ok


def best(runs: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The fastest of repeated runs (the first also warms the poller's and the API's workers)."""
    return min(runs, key=lambda r: r["seconds"])


def _reported(scale: Mapping[str, Any], pending: int, backlog: int) -> list[Figure]:
    small, large, shards4, floor = best(scale["pending1k"]), scale["pending10k"], scale["shards4"], scale["floor"]
    success = scale["success"]
    real = "real path: claim, status check, token read, SendTaskHeartbeat accepted"
    return [
        Figure(f"poller at {pending:,} pending (all due)", small["jobsPerSecond"], "jobs/s", "", None, real),
        Figure(
            f"poller at {backlog:,} pending ({pending:,} due)",
            large["jobsPerSecond"],
            "jobs/s",
            "",
            None,
            "same path and due jobs, behind a not-due backlog",
        ),
        Figure(
            "raw floor (same calls, same concurrency)",
            floor["jobsPerSecond"],
            "jobs/s",
            "",
            None,
            f"{floor['calls']}, {floor['concurrency']} at a time",
        ),
        Figure(
            f"{shards4['shards']} shards vs 1 at {backlog:,} pending",
            _ratio(shards4["jobsPerSecond"], large["jobsPerSecond"]),
            "x",
            "",
            None,
            f"{shards4['jobsPerSecond']:.1f} vs {large['jobsPerSecond']:.1f} jobs/s, a run per shard at once, 2 cores",
        ),
        Figure(
            "success path",
            success["jobsPerSecond"],
            "jobs/s",
            "",
            None,
            f"decision transaction, SendTaskSuccess, finish transaction: "
            f"{success['summary'].get('succeeded', 0):,} sent, {success['shards']} shards",
        ),
    ]


def _judged(scale: Mapping[str, Any], pending: int, backlog: int) -> list[Figure]:
    small, large, floor = best(scale["pending1k"]), scale["pending10k"], scale["floor"]
    ratio = _ratio(large["msPerJob"], small["msPerJob"])
    fraction = _ratio(small["jobsPerSecond"], floor["jobsPerSecond"])
    # Over the jobs due when the run read them (checked + deferred: a run that reaches its deadline
    # has read the jobs it defers too), not only the ones it got to.
    due = large["summary"].get("dueJobs") or large["summary"]["checked"]
    read = _ratio(large["queryItems"], due)
    wpp = small["writes"]["perPoll"]
    return [
        Figure(
            f"time per due job, {backlog:,} vs {pending:,} pending",
            ratio,
            "x",
            f"<= {TIME_RATIO_MAX}",
            _check(ratio, ratio is not None and ratio <= TIME_RATIO_MAX),
            "real heartbeat path, 1 shard",
        ),
        Figure(
            f"index items read per due job at {backlog:,} pending",
            read,
            "items",
            f"<= {READ_RATIO_MAX} (not {backlog / pending:g})",
            _check(read, read is not None and read <= READ_RATIO_MAX),
            f"{large['queryItems']:,} ByDue items read for {due:,} due of {backlog:,} pending",
        ),
        Figure(
            "DynamoDB writes per poll of a running job",
            wpp,
            "writes",
            f"= {WRITES_PER_POLL_TARGET:g}",
            _check(wpp, wpp is not None and abs(wpp - WRITES_PER_POLL_TARGET) < 0.01),
            "Put/Update/DeleteItem + 2 per TransactWriteItems, both tables, per job checked",
            f"with the shard lease (2 writes per run): {small['writes']['perPollWithLeases']:.3f}",
        ),
        Figure(
            "poller / raw floor",
            fraction,
            "x",
            f">= {FLOOR_FRACTION_MIN}",
            _check(fraction, fraction is not None and fraction >= FLOOR_FRACTION_MIN),
            f"at {pending:,} pending",
        ),
    ]


def scale_figures(scale: Mapping[str, Any], pending: int, backlog: int) -> list[Figure]:
    return [*_reported(scale, pending, backlog), *_judged(scale, pending, backlog)]


def end_state_figure(name: str, states: Mapping[str, int], measures: str) -> Figure:
    total = sum(states.values())
    bad = sum(n for state, n in states.items() if state != "SUCCEEDED")
    timed_out = sum(n for state, n in states.items() if "TimedOut" in state or "TIMED_OUT" in state)
    detail = ", ".join(f"{state} {n:,}" for state, n in sorted(states.items()))
    return Figure(
        name,
        float(bad),
        "not SUCCEEDED",
        "= 0 (none timed out or failed)",
        bad == 0,
        f"{total:,} executions: {detail}",
        f"{measures}; timed out: {timed_out:,}",
    )


def aws_token_workload(workload: Workload, token_chars: int) -> Workload:
    """The measured workload with AWS-sized task tokens (2,048 characters) in the token record."""
    extra_kb = max(0, AWS_MAX_TOKEN_CHARS - token_chars) / 1024
    return replace(workload, token_item_kb=workload.token_item_kb + extra_kb)


def floor_usage(workload: Workload) -> Usage:
    """Per job, the least any callback design can spend: its fixed transitions, the job API calls the
    loop makes too (one create, one check per poll), and one write of the item that holds the token.
    No poller, no poll state, no index, no end writes: what no design can go below."""
    loop = design_usage(workload, Design.LOOP).per_job
    return Usage(
        transitions=workload.callback_transitions,
        lambda_requests=loop.lambda_requests,
        lambda_gb_s=loop.lambda_gb_s,
        ddb_wru=workload.wru_per_token_write,
    )


def cost_rows(workload: Workload, polls: Iterable[int], prices: Prices | None = None) -> list[dict[str, Any]]:
    """Per polls-per-job: both designs per 1,000 jobs (marginal and at the workload's volume), the
    ratio, and the ratio of the floor (floor_usage) to the loop."""
    rows = []
    for p in polls:
        w = workload.with_polls(p)
        cb_m, loop_m, floor_m = _marginal(w, prices)
        per_1000 = 1000 / w.jobs_per_month
        cb_v = design_cost(w, Design.CALLBACK, prices).total_usd * per_1000
        loop_v = design_cost(w, Design.LOOP, prices).total_usd * per_1000
        rows.append(
            {
                "pollsPerJob": p,
                "callbackMarginal": cb_m,
                "loopMarginal": loop_m,
                "ratioMarginal": cb_m / loop_m,
                "callbackAtVolume": cb_v,
                "loopAtVolume": loop_v,
                "ratioAtVolume": cb_v / loop_v,
                "floorMarginal": floor_m,
                "ratioFloor": floor_m / loop_m,
            }
        )
    return rows


def _marginal(w: Workload, prices: Prices | None) -> tuple[float, float, float]:
    """Dollars per 1,000 jobs, fixed monthly costs left out: callback, loop, floor."""

    def usd(usage: Usage) -> float:
        return price_usage(usage.scaled(1000), prices=prices).total_usd

    return (
        usd(design_usage(w, Design.CALLBACK).per_job),
        usd(design_usage(w, Design.LOOP).per_job),
        usd(floor_usage(w)),
    )


def cost_reach(workload: Workload, prices: Prices | None = None, *, up_to: int = 1_000) -> dict[str, int | None]:
    """From how many polls per job the marginal ratio first reaches COST_RATIO_MAX (it only falls
    with more polls): this design's, and the floor's (no callback design can get there sooner);
    None if not by up_to (returned as upTo)."""
    reach: dict[str, int | None] = {"fromPolls": None, "floorFromPolls": None, "upTo": up_to}
    for p in range(1, up_to + 1):
        cb, loop, floor = _marginal(workload.with_polls(p), prices)
        if reach["floorFromPolls"] is None and floor / loop <= COST_RATIO_MAX:
            reach["floorFromPolls"] = p
        if cb / loop <= COST_RATIO_MAX:
            reach["fromPolls"] = p
            break
    return reach


def cost_figure(rows: list[dict[str, Any]], reach: Mapping[str, int | None]) -> Figure:
    judged = [r for r in rows if r["pollsPerJob"] >= COST_RATIO_FROM_POLLS]
    worst = max(judged, key=lambda r: r["ratioMarginal"]) if judged else None
    ok = worst is not None and worst["ratioMarginal"] <= COST_RATIO_MAX
    note = ""
    if worst is not None and not ok:
        p = worst["pollsPerJob"]
        floor_ok = worst["ratioFloor"] <= COST_RATIO_MAX
        note = (
            f"FAIL at {p} polls/job; "
            + ("" if floor_ok else "no callback design can pass there: ")
            + f"the floor (the fixed transitions, the loop's own {p + 1} API calls, one write of the token item) "
            f"is {worst['ratioFloor']:.3f} of the loop; <= {COST_RATIO_MAX} from "
            f"{polls_text(reach['floorFromPolls'], reach)} for the floor, "
            f"{polls_text(reach['fromPolls'], reach)} for this design"
        )
    value = worst["ratioMarginal"] if worst else None
    return Figure(
        f"cost callback/loop, >= {COST_RATIO_FROM_POLLS} polls/job (worst)",
        value,
        "x",
        f"<= {COST_RATIO_MAX}",
        _check(value, ok),
        "cost model, measured inputs, 2,048-char tokens",
        note,
    )


def polls_text(n: int | None, reach: Mapping[str, int | None]) -> str:
    return f"never (searched up to {reach.get('upTo') or 0:,})" if n is None else f"{n} polls/job"


def figures_dict(figures: Iterable[Figure]) -> list[dict[str, Any]]:
    return [asdict(f) for f in figures]


def duration_figure(seconds: float) -> Figure:
    """The bench's own wall time: it is meant to be run, so it must stay short."""
    minutes = seconds / 60
    return Figure(
        "bench wall time",
        minutes,
        "min",
        f"<= {BENCH_MINUTES_MAX:g}",
        minutes <= BENCH_MINUTES_MAX,
        "start of the local cloud to the last figure (deploy, cost, scale, crowd)",
    )
