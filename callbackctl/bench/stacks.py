"""The two stacks the bench measures: deploy them with the bench's settings and read what they are."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

from callbackctl.bench.settings import BenchSettings
from callbackctl.deployment.cdk import deploy
from callbackctl.deployment.functions import configuration
from callbackctl.deployment.schedule import schedule_interval_seconds
from callbackctl.deployment.stack import stack_info, stack_outputs
from callbackctl.deployment.targets import STACK_NAME, Target

BASELINE_STACK_NAME = "PollingLoopBaseline"  # stacks/polling_loop.py (not imported: no CDK here)
_BASELINE_OUTPUTS = ("StateMachineArn", "SimulatedApiFunctionName", "JobsTableName")


@dataclass(frozen=True, kw_only=True)
class Deployment:
    target: Target
    endpoint: str
    state_machine_arn: str  # callback
    task_tokens_table: str
    poll_state_table: str
    jobs_table: str
    create_job_function: str
    poller_function: str
    api_function: str
    poller_schedule: str  # shard 0's
    poller_schedules: tuple[str, ...]  # one per shard: all paused while a phase measures
    loop_state_machine_arn: str
    loop_api_function: str
    loop_jobs_table: str
    memory_mb: dict[str, int]
    poller_concurrency: int
    clock_speed: float
    schedule_interval_seconds: float  # real seconds between the poller's runs: its rate over the clock speed


def deploy_stacks(target: Target, settings: BenchSettings) -> None:
    """Both stacks, with the bench's clock speed and poller concurrency, in a cloud assembly of their own."""
    context = {"baseline": "true", "scheduleClockSpeed": f"{settings.clock_speed:g}"}
    if settings.poller_concurrency is not None:
        context["pollerConcurrency"] = str(settings.poller_concurrency)
    # `cdk.out` may be in use by another deploy or synth.
    with tempfile.TemporaryDirectory(prefix="cdk.out.bench-") as out:
        deploy(target, stage="local", extra_context=context, stacks=(STACK_NAME, BASELINE_STACK_NAME), output_dir=out)


def read_deployment(target: Target, endpoint: str, clock_speed: float) -> Deployment:
    info = stack_info(target)
    loop = stack_outputs(target, BASELINE_STACK_NAME, _BASELINE_OUTPUTS)
    functions = (
        info.create_job_function,
        info.poller_function,
        info.simulated_api_function,
        loop["SimulatedApiFunctionName"],
    )
    configs = {name: configuration(target, name) for name in functions}
    poller_env = configs[info.poller_function].get("Environment", {}).get("Variables", {})
    return Deployment(
        target=target,
        endpoint=endpoint,
        state_machine_arn=info.state_machine_arn,
        task_tokens_table=info.task_tokens_table,
        poll_state_table=info.poll_state_table,
        jobs_table=info.jobs_table,
        create_job_function=info.create_job_function,
        poller_function=info.poller_function,
        api_function=info.simulated_api_function,
        poller_schedule=info.poller_schedule,
        poller_schedules=info.poller_schedules,
        loop_state_machine_arn=loop["StateMachineArn"],
        loop_api_function=loop["SimulatedApiFunctionName"],
        loop_jobs_table=loop["JobsTableName"],
        memory_mb={name: int(c["MemorySize"]) for name, c in configs.items()},
        poller_concurrency=int(poller_env.get("POLLER_CONCURRENCY", "0") or 0),
        clock_speed=clock_speed,
        schedule_interval_seconds=schedule_interval_seconds(target, info.poller_schedule, clock_speed),
    )
