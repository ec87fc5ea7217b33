"""Deploy and destroy with the pinned CDK CLI (cdklocal for the local targets, cdk for AWS)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from botocore.exceptions import ClientError

from callbackctl.deployment.stack import StackInfo, stack_info
from callbackctl.deployment.targets import STACK_NAME, Target
from callbackctl.errors import CommandFailed, UsageError

ROOT = Path(__file__).resolve().parents[2]
LOCAL_ACCOUNT = "000000000000"


def run_cdk(target: Target, args: Sequence[str]) -> None:
    """Run the pinned CDK CLI in the repository (its output goes to the terminal)."""
    exe = ROOT / "node_modules" / ".bin" / target.cdk_command
    if not exe.exists():
        raise UsageError(f"{exe.relative_to(ROOT)} is missing: run `make setup` (npm ci installs the pinned CDK CLI)")
    env = target.cdk_env()
    venv_bin = str(ROOT / ".venv" / "bin")
    env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"  # cdk.json runs `python app.py`
    print(f"$ {target.cdk_command} {' '.join(args)}", file=sys.stderr, flush=True)
    result = subprocess.run([str(exe), *args], cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise CommandFailed(f"`{target.cdk_command} {args[0]}` failed (exit {result.returncode}); see its output above")


def is_bootstrapped(target: Target) -> bool:
    try:
        stacks = target.client("cloudformation").describe_stacks(StackName="CDKToolkit")["Stacks"]
    except ClientError:
        return False
    return stacks[0]["StackStatus"].endswith("_COMPLETE") and "ROLLBACK" not in stacks[0]["StackStatus"]


def bootstrap_if_needed(target: Target, *, output_dir: str | None = None) -> None:
    if is_bootstrapped(target):
        return
    account = LOCAL_ACCOUNT if target.is_local else target.client("sts").get_caller_identity()["Account"]
    print(f"bootstrapping aws://{account}/{target.region} (once per account and region)", file=sys.stderr)
    run_cdk(target, ["bootstrap", f"aws://{account}/{target.region}", *(["-o", output_dir] if output_dir else [])])


def ensure_local_cloud(target: Target, *, clock_speed: float | None = None) -> None:
    """Start the local cloud when the target is localcloud and it is not running yet."""
    if target.name != "localcloud":
        return
    import localcloud

    try:
        localcloud.ensure_started(clock_speed=clock_speed)
    except localcloud.LocalCloudError as err:
        raise CommandFailed(f"the local cloud did not start: {err}") from None


def deploy(
    target: Target,
    *,
    stage: str | None = None,
    extra_context: Mapping[str, str] | None = None,
    stacks: Sequence[str] = (STACK_NAME,),
    output_dir: str | None = None,
) -> StackInfo:
    """Bootstrap when needed, deploy ``stacks``, and return the callback stack's outputs. Prints progress.

    ``output_dir`` gives the cloud assembly a folder of its own (``cdk.out`` may be in use elsewhere).
    """
    ensure_local_cloud(target)
    stage = stage or target.stage
    started = time.monotonic()
    bootstrap_if_needed(target, output_dir=output_dir)
    settings = {"stage": stage, **(extra_context or {})}
    if target.name == "localstack":  # LocalStack core has no $$.Execution.RedriveCount
        settings.setdefault("passRedriveCount", "false")
    context = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
    extra = ["--concurrency", str(len(stacks))] if len(stacks) > 1 else []
    if output_dir:
        extra += ["-o", output_dir]
    run_cdk(target, ["deploy", *stacks, *context, "--require-approval", "never", "--progress", "events", *extra])
    info = stack_info(target)
    print(
        f"deployed {', '.join(stacks)} to {target.name} (stage {stage}) in {time.monotonic() - started:.0f}s",
        file=sys.stderr,
    )
    return info


def destroy(target: Target, stacks: Sequence[str] = (STACK_NAME,)) -> None:
    run_cdk(target, ["destroy", *stacks, "--force"])
