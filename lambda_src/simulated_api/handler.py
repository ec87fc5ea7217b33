"""simulated_api: a stand-in for an external job service, backed by its own DynamoDB table.

CREATE_JOB starts a job that ends after a few status checks (the same idempotency key always
gives back the same job, as real job APIs do with client tokens); CHECK_STATUS counts a check and
reports the job's status (and, once finished, its result or failure reason); CANCEL_JOB stops a job
nobody waits for any more.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict, cast

import boto3

from common.clock import iso, utc_now
from common.config import env_int, env_str
from common.job_api import Outcome
from common.log import get_logger, inject_lambda_context
from simulated_api.logic import (
    Faults,
    IdempotencyConflict,
    InvalidRequest,
    JobNotFound,
    ServiceUnavailable,
    failure_reason,
    job_result,
    plan_job,
    request_hash,
    status_after_poll,
)

if TYPE_CHECKING:  # boto3-stubs: a dev dependency, not in the Lambda runtime
    from mypy_boto3_dynamodb.service_resource import Table

logger = get_logger("simulated_api")

__all__ = ["InvalidRequest", "JobNotFound", "JobsTable", "lambda_handler"]

# Job ids are derived from the idempotency key, so a retried CREATE_JOB finds the job it started.
_JOB_ID_NAMESPACE = uuid.UUID("6f1d3c2e-4b1a-4c8e-9a57-3f0e2d1c9b8a")
IN_PROGRESS = "IN_PROGRESS"
NO_FAULTS = Faults()
CANCELLED = "CANCELLED"


class JobItem(TypedDict, total=False):
    """An item of the jobs table, as create() writes it and _end() ends it (numbers read back as Decimal)."""

    jobId: str
    idempotencyKey: str
    requestHash: str
    status: str
    outcome: Outcome
    pollCount: Decimal
    completionPolls: Decimal
    payload: dict[str, Any]
    result: dict[str, Any]
    error: str
    createdAt: str
    updatedAt: str


def _job_item(item: Mapping[str, Any]) -> JobItem:
    # cast: only this module writes the jobs table (create, check, _end), so its items have this shape.
    return cast(JobItem, item)


@dataclass(frozen=True, kw_only=True)
class JobsTable:
    """The simulated API's own table of jobs (not the task-token table)."""

    table: Table
    polls_min: int
    polls_max: int

    def create(self, idempotency_key: Any, simulate: Any, payload: Any, faults: Faults = NO_FAULTS) -> dict[str, Any]:
        if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 256:
            raise InvalidRequest("CREATE_JOB needs an idempotencyKey: a string of 1 to 256 characters")
        job = plan_job(simulate, payload, polls_min=self.polls_min, polls_max=self.polls_max)
        fingerprint = request_hash(simulate, payload)
        job_id = str(uuid.uuid5(_JOB_ID_NAMESPACE, idempotency_key))
        now = iso(utc_now())
        try:
            self.table.put_item(
                Item={
                    "jobId": job_id,
                    "idempotencyKey": idempotency_key,
                    "requestHash": fingerprint,
                    "status": IN_PROGRESS,
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
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            existing = _job_item(self.table.get_item(Key={"jobId": job_id}, ConsistentRead=True)["Item"])
            if existing.get("requestHash") != fingerprint:
                raise IdempotencyConflict(
                    f"idempotency key {idempotency_key!r} was used for a different request (job {job_id})"
                ) from None
            logger.info("job exists for this idempotency key", extra={"jobId": job_id})
            return {
                "jobId": job_id,
                "status": existing["status"],
                "completionPolls": int(existing["completionPolls"]),
                "created": False,
            }
        logger.info("job created", extra={"jobId": job_id, "outcome": job.outcome, "polls": job.completion_polls})
        if faults.create_delay_seconds:
            logger.warning("injected fault: delaying the answer", extra={"seconds": faults.create_delay_seconds})
            time.sleep(faults.create_delay_seconds)
        return {"jobId": job_id, "status": IN_PROGRESS, "completionPolls": job.completion_polls, "created": True}

    def check(self, job_id: Any) -> dict[str, Any]:
        _require_job_id(job_id, "CHECK_STATUS")
        client_error = self.table.meta.client.exceptions.ConditionalCheckFailedException
        try:
            item = _job_item(
                self.table.update_item(
                    Key={"jobId": job_id},
                    UpdateExpression="ADD pollCount :one SET updatedAt = :now",
                    ConditionExpression="attribute_exists(jobId)",
                    ExpressionAttributeValues={":one": 1, ":now": iso(utc_now())},
                    ReturnValues="ALL_NEW",
                )["Attributes"]
            )
        except client_error:
            raise JobNotFound(f"no job with id {job_id!r}") from None
        polls = int(item["pollCount"])
        completion_polls = int(item["completionPolls"])
        report: dict[str, Any] = {"jobId": job_id, "pollCount": polls, "completionPolls": completion_polls}
        if item["status"] != IN_PROGRESS:  # already finished: report the same end again
            return _with_end(report, item)
        status = status_after_poll(outcome=item["outcome"], poll_count=polls, completion_polls=completion_polls)
        report["status"] = status
        if status == IN_PROGRESS:
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
        if not self._end(job_id, status, end):  # a concurrent check or a cancel ended it first
            return _with_end(report, self._get(job_id))
        logger.info("job finished", extra={"jobId": job_id, "status": status, "polls": polls})
        report[end[0]] = _plain(end[1])
        return report

    def cancel(self, job_id: Any) -> dict[str, Any]:
        _require_job_id(job_id, "CANCEL_JOB")
        item = self.table.get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item")
        if item is None:
            raise JobNotFound(f"no job with id {job_id!r}")
        if item["status"] == IN_PROGRESS and self._end(job_id, CANCELLED, ("error", f"job {job_id} was cancelled")):
            logger.info("job cancelled", extra={"jobId": job_id})
        return _with_end({"jobId": job_id}, self._get(job_id))

    def _end(self, job_id: str, status: str, end: tuple[str, Any]) -> bool:
        """Move an IN_PROGRESS job to its end; False if it had already ended."""
        try:
            self.table.update_item(
                Key={"jobId": job_id},
                UpdateExpression="SET #s = :status, #x = :x, updatedAt = :now",
                ConditionExpression="#s = :in_progress",
                ExpressionAttributeNames={"#s": "status", "#x": end[0]},
                ExpressionAttributeValues={
                    ":status": status,
                    ":x": end[1],
                    ":in_progress": IN_PROGRESS,
                    ":now": iso(utc_now()),
                },
            )
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _get(self, job_id: str) -> dict[str, Any]:
        return dict(self.table.get_item(Key={"jobId": job_id}, ConsistentRead=True)["Item"])


def _require_job_id(job_id: Any, action: str) -> None:
    if not isinstance(job_id, str) or not job_id:
        raise InvalidRequest(f"{action} needs a non-empty string jobId")


def _with_end(report: dict[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
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


_jobs: JobsTable | None = None


def _default_jobs() -> JobsTable:
    global _jobs
    if _jobs is None:
        _jobs = JobsTable(
            table=boto3.resource("dynamodb").Table(env_str("JOBS_TABLE_NAME")),
            polls_min=env_int("COMPLETION_POLLS_MIN", minimum=1),
            polls_max=env_int("COMPLETION_POLLS_MAX", minimum=1),
        )
    return _jobs


ACTIONS = ("CREATE_JOB", "CHECK_STATUS", "CANCEL_JOB")


@inject_lambda_context(logger, correlation={"jobId": "jobId", "action": "action"})
def lambda_handler(event: dict[str, Any], context: Any, jobs: JobsTable | None = None) -> dict[str, Any]:
    jobs = jobs or _default_jobs()
    if not isinstance(event, dict):
        raise InvalidRequest("the request must be a JSON object with an action")
    faults = Faults.parse(os.environ.get("SIMULATED_FAULTS"))
    action = event.get("action")
    if action == "CREATE_JOB":
        return jobs.create(event.get("idempotencyKey"), event.get("simulate"), event.get("payload"), faults)
    if action == "CHECK_STATUS":
        if faults.check_unavailable:
            raise ServiceUnavailable("injected outage: the job API is unavailable (SIMULATED_FAULTS)")
        return jobs.check(event.get("jobId"))
    if action == "CANCEL_JOB":
        return jobs.cancel(event.get("jobId"))
    raise InvalidRequest(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
