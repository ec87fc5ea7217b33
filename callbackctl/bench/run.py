"""One bench run: start the local cloud, deploy both stacks, run the phases, write and print the result."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from callbackctl.bench.billing import RULES
from callbackctl.bench.figures import (
    aws_token_workload,
    cost_figure,
    cost_reach,
    cost_rows,
    duration_figure,
    end_state_figure,
    figures_dict,
    scale_figures,
)
from callbackctl.bench.measured import fmt_ratio, price_phase
from callbackctl.bench.phases import Bench, log_line
from callbackctl.bench.plot import plot_result
from callbackctl.bench.report import format_report, write_result
from callbackctl.bench.scale import crowd, real_path, settle
from callbackctl.bench.settings import BenchSettings
from callbackctl.bench.stacks import BASELINE_STACK_NAME, deploy_stacks, read_deployment
from callbackctl.cost.model import MINUTES_PER_MONTH
from callbackctl.cost.prices import default_prices, price_usage
from callbackctl.deployment.cdk import ROOT
from callbackctl.deployment.cleanup import cleanup
from callbackctl.deployment.executions import running_executions
from callbackctl.deployment.stack import stack_info
from callbackctl.deployment.targets import STACK_NAME, Target, resolve_target
from callbackctl.errors import CommandFailed

RESULTS_DIR = ROOT / "bench-results"


def measure_cost(bench: Bench) -> dict[str, Any]:
    """Warm-up, idle, then one cost phase per polls-per-job setting, priced with the observed schedule rate."""
    s = bench.settings
    bench.log(f"warm-up: {s.jobs} jobs x 2 designs, not measured")
    bench.warm_up()
    bench.log(f"idle: the schedule fires with nothing pending for {s.idle_seconds:g} s")
    fired_at_start, clock_at_start = bench.schedule_firings(), time.monotonic()
    idle, idle_record = bench.idle()
    phases = []
    for polls in s.polls:
        bench.log(f"cost: {s.jobs} jobs x 2 designs at {polls} polls per job")
        phases.append(bench.cost_phase(polls, idle))
        bench.log(f"cost: {polls} polls/job done in {phases[-1]['seconds']:.0f} s")
    # The static schedule's rate, observed over the idle and cost phases, prices its fixed part.
    schedule_minutes = (time.monotonic() - clock_at_start) * s.clock_speed / 60
    runs_per_minute = (bench.schedule_firings() - fired_at_start) / schedule_minutes
    fixed = idle.monthly(runs_per_minute * MINUTES_PER_MONTH)
    for phase in phases:
        priced = price_phase(
            phase["_measured"], phase["_formula"], fixed, jobs_per_month=s.jobs_per_month, tolerance_pct=s.tolerance_pct
        )
        for design in ("loop", "callback"):
            phase[design].update(priced.pop(design))
        phase.update(priced)
        ratio = fmt_ratio(phase["cost"]["ratio_marginal"])
        bench.log(f"cost: {phase['pollsPerJob']} polls/job: callback/loop cost per job {ratio}")
    fixed_record = {
        "observedScheduleMinutes": schedule_minutes,
        "runsPerMinute": runs_per_minute,
        "runsPerMonth": runs_per_minute * MINUTES_PER_MONTH,
        "idleRun": idle_record["idleRun"],
        "usage": asdict(fixed),
        "usd": price_usage(fixed).total_usd,
    }
    return {"idle": idle_record, "cost": {"fixedMonthly": fixed_record, "phases": phases}}


# A local cloud that stops answering mid-run (it was running: the bench started or found it).
STOPPED_ANSWERING = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)


def refuse_busy(target: Target, endpoint: str, state_machine_arns: list[str]) -> None:
    """Executions already running (a local cloud the bench did not start) would add their work to
    every figure: the bench stops with what to do instead."""
    busy = {arn: len(running_executions(target, arn)) for arn in state_machine_arns}
    named = ", ".join(f"{n:,} of {arn.rsplit(':', 1)[-1]}" for arn, n in busy.items() if n)
    if named:
        raise CommandFailed(
            f"executions are already running on the local cloud at {endpoint} ({named}); their work would "
            "count in every figure. End them (`callbackctl cleanup --target localcloud` for the callback "
            "stack) or let the bench start a local cloud of its own (`make localcloud-stop` first, or "
            "`--port`/`--state-dir`)"
        )


def _measure(target: Target, endpoint: str, settings: BenchSettings, *, deploy: bool, started: float) -> dict[str, Any]:
    if deploy:
        log_line(started, f"deploying {STACK_NAME} and {BASELINE_STACK_NAME}")
        deploy_stacks(target, settings)
    dep = read_deployment(target, endpoint, settings.clock_speed)
    refuse_busy(target, endpoint, [dep.state_machine_arn, dep.loop_state_machine_arn])
    bench = Bench(dep, settings, started)
    bench.set_schedule("ENABLED")
    measured = measure_cost(bench)
    scale, waiting = real_path(bench)
    # The scale phase's last jobs end before the crowd starts. Started beside them (282 left, the
    # crowd starting at 22/s), the machine overran: the job API's and create_job's calls timed out,
    # LocalStack stopped answering within 6 minutes (one run, 2026-12-02).
    settle(bench, scale, waiting)
    measured["scale"] = scale
    if settings.crowd:
        measured["crowd"] = crowd(bench)
    measured["deployment"] = {f.name: getattr(dep, f.name) for f in fields(dep) if f.name != "target"}
    return measured


def run_bench(
    settings: BenchSettings,
    *,
    port: int | None = None,
    state_dir: str | None = None,
    deploy: bool = True,
    keep_running: bool = False,
    out_dir: Path = RESULTS_DIR,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The whole run; returns the result as written to ``out_dir`` (camelCase keys)."""
    import localcloud

    started, started_at = time.monotonic(), datetime.now(UTC).isoformat(timespec="seconds")
    log_line(started, "starting the local cloud")
    try:
        instance = localcloud.start(
            port=port, state_dir=state_dir, clock_speed=settings.clock_speed, echo=lambda m: log_line(started, m)
        )
    except localcloud.LocalCloudError as exc:
        raise CommandFailed(str(exc)) from None
    started_here = not instance.already_running
    target = resolve_target("localcloud", endpoint=instance.endpoint)
    try:
        try:
            measured = _measure(target, instance.endpoint, settings, deploy=deploy, started=started)
        except STOPPED_ANSWERING as err:
            raise CommandFailed(
                f"the local cloud at {instance.endpoint} stopped answering during the run ({err}): LocalStack "
                "(one process) fell behind the load. Run the bench with nothing else running on the machine, or "
                f"smaller (--crowd, --pending); LocalStack's log: {instance.log_file}"
            ) from None
        if not started_here:
            log_line(started, "cleaning up the tables (the local cloud keeps running)")
            cleanup(target, stack_info(target))
    finally:
        if started_here and not keep_running:
            log_line(started, "stopping the local cloud")
            localcloud.stop(state_dir=state_dir)
    prices = default_prices()
    result = {
        "version": 2,
        "startedAt": started_at,
        "seconds": round(time.monotonic() - started, 1),
        "settings": settings,
        "rules": RULES,
        "prices": {"region": prices.region, "as_of": prices.as_of},
        **measured,
    }
    result["figures"], result["pricedCost"] = judge(result, settings)
    written = write_result(result, out_dir)
    written["plot"] = str(plot_result(written, out_dir))
    echo(format_report(written))
    return written


def judge(result: dict[str, Any], settings: BenchSettings) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every figure with its target; the cost model at the priced polls with the measured inputs."""
    s = settings
    figures = scale_figures(result["scale"], s.scale_pending, s.backlog_pending)
    figures.append(
        end_state_figure(
            f"{s.scale_pending:,} real waiting executions",
            result["scale"]["endStates"],
            "heartbeats, then SendTaskSuccess: all must succeed",
        )
    )
    if "crowd" in result:
        figures.append(
            end_state_figure(
                f"{s.crowd:,} executions at once (schedules on)",
                result["crowd"]["endStates"],
                "all must succeed",
            )
        )
    last = result["cost"]["phases"][-1]
    workload = aws_token_workload(last["formulaWorkload"], last["callback"]["taskTokenTable"]["tokenChars"])
    rows = cost_rows(workload, s.priced_polls)
    reach = cost_reach(workload)
    figures.append(cost_figure(rows, reach))
    figures.append(duration_figure(result["seconds"]))
    return figures_dict(figures), {"workload": workload, "rows": rows, "reach": reach}
