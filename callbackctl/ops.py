"""Deploy and destroy with the pinned CDK CLI, poll a job by hand, clean up, summarise a template."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from callbackctl.stackinfo import StackInfo, stack_info
from callbackctl.targets import STACK_NAME, Target, UsageError

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = f"{STACK_NAME}.template.json"


def _cdk(target: Target, args: list[str]) -> None:
    exe = ROOT / "node_modules" / ".bin" / target.cdk_command
    if not exe.exists():
        raise UsageError(f"{exe.relative_to(ROOT)} is missing: run `make setup` (npm ci installs the pinned CDK CLI)")
    env = target.cdk_env()
    venv_bin = str(ROOT / ".venv" / "bin")
    env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"  # cdk.json runs `python app.py`
    command = [str(exe), *args]
    print(f"$ {target.cdk_command} {' '.join(args)}", file=sys.stderr, flush=True)
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise UsageError(f"`{target.cdk_command} {args[0]}` failed (exit {result.returncode}); see its output above")


def _bootstrapped(target: Target) -> bool:
    try:
        stacks = target.client("cloudformation").describe_stacks(StackName="CDKToolkit")["Stacks"]
    except ClientError:
        return False
    return stacks[0]["StackStatus"].endswith("_COMPLETE") and "ROLLBACK" not in stacks[0]["StackStatus"]


def ensure_local_cloud(target: Target, *, clock_speed: float | None = None) -> None:
    """Start the local cloud when the target is localcloud and it is not running yet."""
    if target.name != "localcloud":
        return
    import localcloud

    localcloud.ensure_started(clock_speed=clock_speed)


def deploy(target: Target, *, stage: str | None = None, extra_context: dict[str, str] | None = None) -> StackInfo:
    """Bootstrap when needed, deploy the stack, and return its outputs. Prints progress."""
    ensure_local_cloud(target)
    stage = stage or target.stage
    started = time.monotonic()
    if not _bootstrapped(target):
        account = "000000000000" if target.is_local else target.client("sts").get_caller_identity()["Account"]
        print(f"bootstrapping aws://{account}/{target.region} (once per account and region)", file=sys.stderr)
        _cdk(target, ["bootstrap", f"aws://{account}/{target.region}"])
    settings = {"stage": stage, **(extra_context or {})}
    if target.name == "localstack":  # LocalStack core has no $$.Execution.RedriveCount
        settings.setdefault("passRedriveCount", "false")
    context = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
    _cdk(target, ["deploy", STACK_NAME, *context, "--require-approval", "never", "--progress", "events"])
    info = stack_info(target)
    print(
        f"deployed {STACK_NAME} to {target.name} (stage {stage}) in {time.monotonic() - started:.0f}s", file=sys.stderr
    )
    return info


def destroy(target: Target) -> None:
    _cdk(target, ["destroy", STACK_NAME, "--force"])


# What UpdateSchedule needs back from GetSchedule (it replaces the whole schedule).
_SCHEDULE_FIELDS = (
    "Name",
    "GroupName",
    "ScheduleExpression",
    "FlexibleTimeWindow",
    "Target",
    "Description",
    "ScheduleExpressionTimezone",
    "StartDate",
    "EndDate",
    "KmsKeyArn",
    "ActionAfterCompletion",
)


def set_schedule_state(target: Target, schedule_name: str, state: str) -> None:
    """Enable or disable a schedule (ENABLED | DISABLED), keeping everything else as it is."""
    scheduler = target.client("scheduler")
    current = scheduler.get_schedule(Name=schedule_name)
    scheduler.update_schedule(**{k: current[k] for k in _SCHEDULE_FIELDS if k in current}, State=state)


def poll_job(target: Target, job_id: str) -> dict[str, Any]:
    """Run the poller for one job now (what the schedule does for every pending job)."""
    info = stack_info(target)
    record = (
        target.client("dynamodb")
        .get_item(TableName=info.task_tokens_table, Key={"jobId": {"S": job_id}}, ConsistentRead=True)
        .get("Item")
    )
    if record is None:
        raise UsageError(f"no job {job_id!r} in table {info.task_tokens_table}; list jobs with `callbackctl monitor`")
    response = target.client("lambda").invoke(
        FunctionName=info.poller_function, Payload=json.dumps({"jobId": job_id}).encode()
    )
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        raise UsageError(f"poller failed: {body.get('errorType')}: {body.get('errorMessage')}")
    after = target.client("dynamodb").get_item(
        TableName=info.task_tokens_table, Key={"jobId": {"S": job_id}}, ConsistentRead=True
    )["Item"]
    return {
        "jobId": job_id,
        "summary": body,
        "statusBefore": record["status"]["S"],
        "statusAfter": after["status"]["S"],
        "attempts": f"{after['attemptCount']['N']}/{after['maxAttempts']['N']}",
    }


def cleanup(target: Target) -> dict[str, int]:
    """End waiting executions, stop the rest, empty both tables and purge the dead-letter queue.

    Waiting executions are ended through their own task token first (SendTaskFailure with error
    `Cleanup`, so they finish in the Error state at once); StopExecution then ends anything else.
    """
    info = stack_info(target)
    sfn = target.client("stepfunctions")
    ended: list[str] = []
    for token, execution_arn in _waiting_executions(target, info):
        try:
            sfn.send_task_failure(taskToken=token, error="Cleanup", cause="ended by callbackctl cleanup")
            ended.append(execution_arn)
        except ClientError:
            pass  # the token is no longer accepted: its execution has ended already
    # Let those executions reach their Error state before stopping what still runs, so a stop
    # never races the failure it would duplicate.
    deadline = time.monotonic() + 15
    while ended and time.monotonic() < deadline:
        if all(sfn.describe_execution(executionArn=arn)["status"] != "RUNNING" for arn in ended):
            break
        time.sleep(0.5)
    stopped = 0
    for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=info.state_machine_arn, statusFilter="RUNNING"
    ):
        for execution in page["executions"]:
            sfn.stop_execution(executionArn=execution["executionArn"], error="Cleanup", cause="callbackctl cleanup")
            stopped += 1
    deleted = {table: _empty_table(target, table) for table in (info.task_tokens_table, info.jobs_table)}
    target.client("sqs").purge_queue(QueueUrl=info.dead_letter_queue_url)
    return {
        "endedWaitingExecutions": len(ended),
        "stoppedExecutions": stopped,
        "deletedTokenRecords": deleted[info.task_tokens_table],
        "deletedJobs": deleted[info.jobs_table],
    }


def _waiting_executions(target: Target, info: StackInfo) -> list[tuple[str, str]]:
    """(task token, execution ARN) of every job still pending (POLLING or SENDING)."""
    ddb = target.client("dynamodb")
    waiting = []
    for page in ddb.get_paginator("scan").paginate(
        TableName=info.task_tokens_table,
        ProjectionExpression="taskToken, executionArn",
        FilterExpression="#s IN (:polling, :sending)",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":polling": {"S": "POLLING"}, ":sending": {"S": "SENDING"}},
    ):
        waiting += [(item["taskToken"]["S"], item["executionArn"]["S"]) for item in page["Items"]]
    return waiting


def _empty_table(target: Target, table: str) -> int:
    client = target.client("dynamodb")
    deleted = 0
    for page in client.get_paginator("scan").paginate(TableName=table, ProjectionExpression="jobId"):
        keys = [{"DeleteRequest": {"Key": item}} for item in page["Items"]]
        for start in range(0, len(keys), 25):
            pending: dict[str, Any] = {table: keys[start : start + 25]}
            while pending:
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        deleted += len(keys)
    return deleted


def template_summary(out_dir: Path) -> str:
    path = out_dir / TEMPLATE
    if not path.exists():
        raise UsageError(f"{path} not found: run `make synth` first")
    template = json.loads(path.read_text())
    resources = Counter(r["Type"] for r in template.get("Resources", {}).values())
    lines = [f"{path}: {sum(resources.values())} resources"]
    lines += [f"  {count:3}  {kind}" for kind, count in sorted(resources.items())]
    lines.append("Outputs: " + ", ".join(sorted(template.get("Outputs", {}))))
    return "\n".join(lines)
