"""simulated_api: a stand-in for an external job service, backed by its own DynamoDB table.

CREATE_JOB creates a job that ends after a few status checks; CHECK_STATUS counts a check and
reports the job's status (and, once finished, its result or failure reason).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3

from common.clock import iso, utc_now
from common.config import env_int, env_str
from common.log import get_logger
from simulated_api.logic import (
    InvalidRequest,
    JobNotFound,
    failure_reason,
    job_result,
    plan_job,
    status_after_poll,
)

logger = get_logger("simulated_api")

__all__ = ["InvalidRequest", "JobNotFound", "JobStore", "lambda_handler"]


@dataclass(frozen=True, kw_only=True)
class JobStore:
    table: Any  # boto3 DynamoDB Table resource
    polls_min: int
    polls_max: int

    def create(self, simulate: Any, payload: Any) -> dict[str, Any]:
        job = plan_job(simulate, payload, polls_min=self.polls_min, polls_max=self.polls_max)
        job_id = str(uuid.uuid4())
        now = iso(utc_now())
        self.table.put_item(
            Item={
                "jobId": job_id,
                "status": "IN_PROGRESS",
                "outcome": job.outcome,
                "pollCount": 0,
                "completionPolls": job.completion_polls,
                # DynamoDB takes no floats: store numbers as Decimal (_plain turns them back).
                "payload": json.loads(json.dumps(job.payload), parse_float=Decimal),
                "createdAt": now,
                "updatedAt": now,
            },
            ConditionExpression="attribute_not_exists(jobId)",
        )
        logger.info("job created", extra={"jobId": job_id, "outcome": job.outcome, "polls": job.completion_polls})
        return {"jobId": job_id, "status": "IN_PROGRESS", "completionPolls": job.completion_polls}

    def check(self, job_id: Any) -> dict[str, Any]:
        if not isinstance(job_id, str) or not job_id:
            raise InvalidRequest("CHECK_STATUS needs a non-empty string jobId")
        client_error = self.table.meta.client.exceptions.ConditionalCheckFailedException
        try:
            item = self.table.update_item(
                Key={"jobId": job_id},
                UpdateExpression="ADD pollCount :one SET updatedAt = :now",
                ConditionExpression="attribute_exists(jobId)",
                ExpressionAttributeValues={":one": 1, ":now": iso(utc_now())},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except client_error:
            raise JobNotFound(f"no job with id {job_id!r}") from None
        polls = int(item["pollCount"])
        completion_polls = int(item["completionPolls"])
        report: dict[str, Any] = {"jobId": job_id, "pollCount": polls, "completionPolls": completion_polls}
        if item["status"] != "IN_PROGRESS":  # already finished: report the same end again
            return _with_end(report, item)
        status = status_after_poll(outcome=item["outcome"], poll_count=polls, completion_polls=completion_polls)
        report["status"] = status
        if status == "IN_PROGRESS":
            return report
        if status == "COMPLETED":
            end: tuple[str, Any] = (
                "result",
                job_result(
                    job_id=job_id, poll_count=polls, payload=item.get("payload", {}), finished_at=iso(utc_now())
                ),
            )
        else:
            end = ("error", failure_reason(job_id=job_id, poll_count=polls))
        try:
            self.table.update_item(
                Key={"jobId": job_id},
                UpdateExpression="SET #s = :status, #x = :x",
                ConditionExpression="#s = :in_progress",  # a concurrent check may have finished it
                ExpressionAttributeNames={"#s": "status", "#x": end[0]},
                ExpressionAttributeValues={":status": status, ":x": end[1], ":in_progress": "IN_PROGRESS"},
            )
        except client_error:  # report the end the other check recorded
            final = self.table.get_item(Key={"jobId": job_id}, ConsistentRead=True)["Item"]
            return _with_end(report, final)
        logger.info("job finished", extra={"jobId": job_id, "status": status, "polls": polls})
        report[end[0]] = _plain(end[1])
        return report


def _with_end(report: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """The report of a job that has ended: its status and its result or failure reason."""
    report["status"] = item["status"]
    for key in ("result", "error"):
        if key in item:
            report[key] = _plain(item[key])
    return report


def _plain(value: Any) -> Any:
    """DynamoDB returns numbers as Decimal; give callers plain JSON types back."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


_store: JobStore | None = None


def _default_store() -> JobStore:
    global _store
    if _store is None:
        _store = JobStore(
            table=boto3.resource("dynamodb").Table(env_str("JOBS_TABLE_NAME")),
            polls_min=env_int("COMPLETION_POLLS_MIN", 2, minimum=1),
            polls_max=env_int("COMPLETION_POLLS_MAX", 3, minimum=1),
        )
    return _store


def lambda_handler(event: dict[str, Any], context: Any, store: JobStore | None = None) -> dict[str, Any]:
    store = store or _default_store()
    if not isinstance(event, dict):
        raise InvalidRequest("the request must be a JSON object with an action")
    action = event.get("action")
    if action == "CREATE_JOB":
        return store.create(event.get("simulate"), event.get("payload"))
    if action == "CHECK_STATUS":
        return store.check(event.get("jobId"))
    raise InvalidRequest(f"unknown action {action!r}: use CREATE_JOB or CHECK_STATUS")
