"""``poll``: run the poller for one job now (what the schedule does for every pending job)."""

from __future__ import annotations

import argparse
from typing import Any

from callbackctl.cli.options import JSON, TARGET, add_command, target_from
from callbackctl.cli.output import emit
from callbackctl.deployment.functions import invoke
from callbackctl.deployment.stack import stack_info
from callbackctl.deployment.tables import get_item
from callbackctl.deployment.targets import Target
from callbackctl.errors import CommandFailed, UsageError
from common.records import TABLE_KEY, Attr

MAX_KEY_BYTES = 2048  # DynamoDB's limit for a partition key


def check_job_id(job_id: str) -> None:
    if not job_id.strip():
        raise UsageError("the job id is empty: copy one from `callbackctl monitor`")
    if len(job_id.encode()) > MAX_KEY_BYTES:
        raise UsageError(
            f"the job id is longer than DynamoDB's {MAX_KEY_BYTES} bytes: copy one from `callbackctl monitor`"
        )


def poll_job(target: Target, job_id: str) -> dict[str, Any]:
    """Invoke the poller for one job and report its record before and after."""
    check_job_id(job_id)
    info = stack_info(target)
    key = {TABLE_KEY: {"S": job_id}}
    record = get_item(target, info.task_tokens_table, key)
    if record is None:
        raise UsageError(f"no job {job_id!r} in table {info.task_tokens_table}; list jobs with `callbackctl monitor`")
    answer = invoke(target, info.poller_function, {"jobId": job_id})
    if answer.error:
        body = answer.body if isinstance(answer.body, dict) else {}
        raise CommandFailed(f"poller failed: {body.get('errorType')}: {body.get('errorMessage')}")
    after = get_item(target, info.task_tokens_table, key) or record
    # Attempts live in the poll state while the job is pending, in the token record once it ended.
    state = get_item(target, info.poll_state_table, key) or after
    return {
        "jobId": job_id,
        "summary": answer.body,
        "statusBefore": record[Attr.STATUS]["S"],
        "statusAfter": after[Attr.STATUS]["S"],
        "attemptCount": int(state.get(Attr.ATTEMPT_COUNT, {"N": "0"})["N"]),
        "maxAttempts": int(after[Attr.MAX_ATTEMPTS]["N"]),
    }


def _text(result: dict[str, Any]) -> str:
    summary = ", ".join(f"{k} {v}" for k, v in result["summary"].items() if v) or "nothing to do"
    return (
        f"job {result['jobId']}: {result['statusBefore']} -> {result['statusAfter']} "
        f"(attempts {result['attemptCount']}/{result['maxAttempts']}); poller: {summary}"
    )


def run_poll(args: argparse.Namespace) -> int:
    check_job_id(args.job_id)
    result = poll_job(target_from(args), args.job_id)
    emit(args.json, result, lambda: _text(result))
    return 0


def register(sub: Any) -> None:
    p = add_command(sub, "poll", "run the poller for one job now", run_poll, parents=[TARGET, JSON])
    p.add_argument("job_id", metavar="JOB_ID", help="the job id (see `callbackctl monitor`)")
