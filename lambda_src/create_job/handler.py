"""create_job: called by the state machine with .waitForTaskToken.

Validates the execution input, starts the job on the external API, stores the task token so the
poller can resume the execution later, and returns. The execution then waits, at no cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypedDict

import boto3

from common.clock import iso, utc_now
from common.config import env_int, env_str
from common.job_api import JobApiClient
from common.log import get_logger, token_fingerprint
from create_job.validation import InvalidJobInput, parse_job_request

logger = get_logger("create_job")

__all__ = ["InvalidJobInput", "JobCreator", "lambda_handler"]


class CreateJobEvent(TypedDict):
    taskToken: str
    executionId: str
    input: Any


@dataclass(frozen=True, kw_only=True)
class JobCreator:
    table: Any  # boto3 DynamoDB Table resource for task tokens
    api: JobApiClient
    default_max_attempts: int
    record_ttl_days: int

    def handle(self, event: Any) -> dict[str, str]:
        if not isinstance(event, dict):
            raise InvalidJobInput("create_job expects {taskToken, executionId, input} from the state machine")
        token, execution_arn = event.get("taskToken"), event.get("executionId")
        if not isinstance(token, str) or not token:
            raise InvalidJobInput(
                "taskToken is missing: invoke create_job from the state machine with .waitForTaskToken"
            )
        if not isinstance(execution_arn, str) or not execution_arn:
            raise InvalidJobInput("executionId is missing from the payload")
        request = parse_job_request(event.get("input"))

        job = self.api.create_job(simulate=request.simulate, payload=request.payload)
        job_id = str(job["jobId"])
        now = utc_now()
        item: dict[str, Any] = {
            "jobId": job_id,
            "taskToken": token,
            "executionArn": execution_arn,
            "status": "POLLING",
            "attemptCount": 0,
            "maxAttempts": request.max_attempts or self.default_max_attempts,
            "createdAt": iso(now),
            "updatedAt": iso(now),
            "expiresAt": int((now + timedelta(days=self.record_ttl_days)).timestamp()),
        }
        if request.job_name:
            item["jobName"] = request.job_name
        self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(jobId)")
        logger.info(
            "job started, execution waiting",
            extra={"jobId": job_id, "executionArn": execution_arn, "token": token_fingerprint(token)},
        )
        return {"jobId": job_id, "status": "POLLING"}


_creator: JobCreator | None = None


def _default_creator() -> JobCreator:
    global _creator
    if _creator is None:
        _creator = JobCreator(
            table=boto3.resource("dynamodb").Table(env_str("TASK_TOKENS_TABLE_NAME")),
            api=JobApiClient(
                lambda_client=boto3.client("lambda"), function_name=env_str("SIMULATED_API_FUNCTION_NAME")
            ),
            default_max_attempts=env_int("MAX_ATTEMPTS", minimum=1),
            record_ttl_days=env_int("RECORD_TTL_DAYS", 7, minimum=1),
        )
    return _creator


def lambda_handler(event: CreateJobEvent, context: Any, creator: JobCreator | None = None) -> dict[str, str]:
    return (creator or _default_creator()).handle(event)
