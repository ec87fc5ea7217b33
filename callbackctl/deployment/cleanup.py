"""Leave a deployment empty: end waiting executions, stop the rest, empty the tables, purge the DLQ."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from callbackctl.deployment.executions import running_executions
from callbackctl.deployment.stack import StackInfo
from callbackctl.deployment.tables import Progress, delete_keys, polling_keys, table_keys, waiting_executions
from callbackctl.deployment.targets import Target

Tasks = Callable[[str, int | None], Progress]  # (description, total or None) -> advance


def _no_progress(_description: str, _total: int | None) -> Progress:
    return lambda _n: None


@dataclass
class CleanupResult:
    ended_waiting_executions: int = 0
    stopped_executions: int = 0
    deleted_token_records: int = 0
    deleted_jobs: int = 0
    purged_dead_letter_messages: int = 0
    dead_letter_queue: str = "purged"  # or why it was not
    not_stopped: list[str] = field(default_factory=list)  # "ARN: error" of executions that could not be ended


def _end_waiting(target: Target, info: StackInfo, tasks: Tasks) -> list[str]:
    """SendTaskFailure "Cleanup" through each waiting job's own token; return the ARNs it ended."""
    keys = polling_keys(target, info.poll_state_table, shards=info.shards)
    waiting = waiting_executions(
        target, info.task_tokens_table, keys, progress=tasks("reading waiting jobs", len(keys))
    )
    sfn = target.client("stepfunctions")
    advance = tasks("ending waiting executions", len(waiting))

    def end(pair: tuple[str, str]) -> str | None:
        token, arn = pair
        try:
            sfn.send_task_failure(taskToken=token, error="Cleanup", cause="ended by callbackctl cleanup")
        except ClientError:
            return None  # the token is no longer accepted: its execution has ended already
        finally:
            advance(1)
        return arn

    with ThreadPoolExecutor(max_workers=8) as pool:
        ended = [arn for arn in pool.map(end, waiting) if arn]
    # Let those executions reach their Error state before stopping what still runs, so a stop
    # never races the failure it would duplicate.
    deadline = time.monotonic() + 15
    while ended and time.monotonic() < deadline:
        if not set(ended) & set(running_executions(target, info.state_machine_arn)):
            break
        time.sleep(0.5)
    return ended


def _stop_running(target: Target, info: StackInfo, tasks: Tasks, result: CleanupResult) -> None:
    running = running_executions(target, info.state_machine_arn)
    sfn = target.client("stepfunctions")
    advance = tasks("stopping running executions", len(running))

    def stop(arn: str) -> str | None:
        try:
            sfn.stop_execution(executionArn=arn, error="Cleanup", cause="callbackctl cleanup")
        except ClientError as err:
            return f"{arn}: {err.response['Error'].get('Code')}: {err.response['Error'].get('Message')}"
        finally:
            advance(1)
        return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        problems = [p for p in pool.map(stop, running) if p]
    result.stopped_executions = len(running) - len(problems)
    result.not_stopped = problems


def _purge_dead_letters(target: Target, info: StackInfo, result: CleanupResult) -> None:
    sqs = target.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=info.dead_letter_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    try:
        sqs.purge_queue(QueueUrl=info.dead_letter_queue_url)
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress"):
            raise
        result.dead_letter_queue = "a purge is already in progress (one per 60 s)"
        return
    result.purged_dead_letter_messages = int(attributes.get("ApproximateNumberOfMessages", 0))


def _empty(target: Target, table: str, description: str, tasks: Tasks) -> int:
    keys = table_keys(target, table)
    return delete_keys(target, table, keys, workers=8, progress=tasks(description, len(keys)))


def cleanup(target: Target, info: StackInfo, *, tasks: Tasks = _no_progress) -> CleanupResult:
    """End waiting executions, stop the rest, empty both tables and purge the dead-letter queue.

    Waiting executions are ended through their own task token first (SendTaskFailure with error
    `Cleanup`, so they finish in the Error state at once); StopExecution then ends anything else.
    An execution that cannot be stopped is listed in ``not_stopped``; the rest goes on.
    """
    result = CleanupResult()
    result.ended_waiting_executions = len(_end_waiting(target, info, tasks))
    _stop_running(target, info, tasks, result)
    result.deleted_token_records = _empty(target, info.task_tokens_table, "emptying the task-token table", tasks)
    _empty(target, info.poll_state_table, "emptying the poll-state table", tasks)
    result.deleted_jobs = _empty(target, info.jobs_table, "emptying the jobs table", tasks)
    _purge_dead_letters(target, info, result)
    return result
