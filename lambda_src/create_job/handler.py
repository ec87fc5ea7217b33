"""create_job: called by the state machine with .waitForTaskToken.

Validates the execution input, starts the job on the external API, stores the task token so the
poller can resume the execution later, and returns. The execution then waits, at no cost.

Safe to run any number of times for the same task (the state machine retries it on transient
Lambda errors): the job is started under an idempotency key made of the execution ARN and its
redrive count, so a retry gets the same job back, and the token record is an upsert that only
replaces the task token (a retried task carries a new one), so the poller answers the current token.
An invocation that Step Functions gave up on (a client-side timeout) may still be running when the
retry starts: the token record keeps the token of the latest attempt ($$.State.RetryCount), so a late
earlier attempt cannot put back a token nobody waits on. A write DynamoDB refuses or does not answer
raises RecordWriteFailed, which the state machine retries: the retry writes both records again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import boto3
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from common.clock import utc_now
from common.config import env_int, env_poll_schedule, env_str
from common.errors import THROTTLING_ERRORS
from common.job_api import JobApiClient
from common.log import get_logger, inject_lambda_context, token_fingerprint
from common.records import (
    HEARTBEAT_AT,
    PENDING_STATUSES,
    POLLING,
    TABLE_KEY,
    Attr,
    PollState,
    TokenRecord,
    new_poll_state,
    new_record,
)
from common.schedule import PollSchedule, shard_of
from create_job.validation import InvalidJobInput, JobRequest, Limits, parse_job_request

logger = get_logger("create_job")

__all__ = ["InvalidJobInput", "JobCreator", "JobRecordFinal", "RecordWriteFailed", "lambda_handler"]

# Written again by a retry: the current token, the attempt it belongs to and the time it came.
_REPLACED_ON_RETRY = (Attr.TASK_TOKEN, Attr.RETRY_COUNT, Attr.UPDATED_AT)
SUPERSEDED = "SUPERSEDED"  # what a late attempt returns: a later attempt's token is stored
# Written again by a retry in the poll state: a retried task starts a new heartbeat clock.
_RESTARTED_ON_RETRY = (HEARTBEAT_AT,)


class CreateJobEvent(TypedDict, total=False):
    taskToken: str
    executionId: str
    redriveCount: int
    retryCount: int
    input: Any


class JobRecordFinal(RuntimeError):
    """A retried task found its job's record already final: nothing would ever answer its token."""


class RecordWriteFailed(RuntimeError):
    """DynamoDB refused (throttling, an outage) or did not answer a write of the job's records. The
    state machine retries the task on this name (common/errors.py RECORD_WRITE_FAILED)."""


class _Superseded(Exception):
    """The token record holds a later attempt's token: this attempt is over."""


def idempotency_key(execution_arn: str, redrive_count: int) -> str:
    """One job per execution run: the same for every retry of the task, new after a redrive."""
    return hashlib.sha256(f"{execution_arn}#{redrive_count}".encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class JobCreator:
    table: Any  # boto3 DynamoDB Table resource for task tokens
    poll_table: Any  # boto3 DynamoDB Table resource for the poll state
    api: JobApiClient
    default_max_attempts: int
    record_ttl_days: int
    limits: Limits
    schedule: PollSchedule

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
        redrive_count = event.get("redriveCount", 0)
        retry_count = event.get("retryCount", 0)
        for name, value in (("redriveCount", redrive_count), ("retryCount", retry_count)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidJobInput(f"{name} must be a non-negative integer, got {value!r}")
        # The record knows its run and its attempt only when the state machine passes the run
        # (passRedriveCount): without it, a redrive reuses the record and the attempts restart at 0.
        run_known = "redriveCount" in event
        request = parse_job_request(event.get("input"), self.limits)
        max_attempts = self._max_attempts(request)

        now = utc_now()
        key = idempotency_key(execution_arn, redrive_count)
        job = self.api.create_job(idempotency_key=key, simulate=request.simulate, payload=request.payload)
        job_id = str(job["jobId"])
        record = new_record(
            job_id=job_id,
            task_token=token,
            execution_arn=execution_arn,
            idempotency_key=key,
            max_attempts=max_attempts,
            input_bytes=request.input_bytes,
            job_name=request.job_name,
            now=now,
            ttl_days=self.record_ttl_days,
            retry_count=retry_count if run_known else None,
            redrive_count=redrive_count if run_known else None,
        )
        interval = request.poll_interval or self.schedule.initial
        state = new_poll_state(
            job_id=job_id,
            shard=shard_of(job_id, self.schedule.shards),
            first_wait_ms=int(self.schedule.first_wait(interval) * 1000),
            interval_ms=int(interval * 1000),
            max_attempts=max_attempts,
            input_bytes=request.input_bytes,
            now=now,
            ttl_days=self.record_ttl_days,
        )
        # The token record first: the poller finds a job through its poll state, and then needs
        # its token. A crash or a failed write between the two fails the task, and its retry
        # writes both again.
        try:
            self._store(record)
            self._schedule(state)
        except _Superseded:
            logger.warning(
                "a later attempt of this task has stored its token; this attempt's is dropped",
                extra={"jobId": job_id, "retryCount": retry_count, "token": token_fingerprint(token)},
            )
            return {"jobId": job_id, "status": SUPERSEDED}
        except (ClientError, BotoCoreError) as err:
            if not _transient(err):
                raise  # a setup error or a bug (validation, permissions, a missing table): not retried
            raise RecordWriteFailed(
                f"could not store job {job_id}'s records ({err}); the state machine retries the task"
            ) from err
        logger.info(
            "job started, execution waiting" if job.get("created", True) else "retried task: same job, token replaced",
            extra={"jobId": job_id, "executionArn": execution_arn, "token": token_fingerprint(token)},
        )
        return {"jobId": job_id, "status": POLLING}

    def _max_attempts(self, request: JobRequest) -> int:
        """The execution's attempts, or the stage's default if they fit its poll interval."""
        if request.max_attempts is not None:
            return request.max_attempts
        if request.poll_interval is not None:
            fitting = self.schedule.attempts_limit(request.poll_interval)
            if self.default_max_attempts > fitting:
                raise InvalidJobInput(
                    f"with pollIntervalSeconds {request.poll_interval * self.schedule.clock_speed:g} only {fitting} "
                    f"status checks fit the task timeout, fewer than the stage's {self.default_max_attempts}: "
                    "set maxAttempts too"
                )
        return self.default_max_attempts

    def _schedule(self, state: PollState) -> None:
        """Write the poll state; a retry keeps the job's schedule and attempts, and restarts its
        heartbeat clock (the retried task is a new task)."""
        update, names, values = upsert(state, replaced=_RESTARTED_ON_RETRY)
        self.poll_table.update_item(
            Key={TABLE_KEY: state["jobId"]},
            UpdateExpression=update,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _store(self, record: TokenRecord) -> None:
        """Write the record, or on a retry replace only the token of the pending record, unless a
        later attempt of the task already stored its own (_Superseded)."""
        update, names, values = upsert(record, replaced=_REPLACED_ON_RETRY)
        pending = sorted(PENDING_STATUSES)
        names["#s"] = Attr.STATUS
        placeholders = [f":p{i}" for i in range(len(pending))]
        values.update(dict(zip(placeholders, pending, strict=True)))
        latest = ""
        if Attr.RETRY_COUNT in record:  # the record keeps the latest attempt's token
            names["#r"], values[":retry"] = Attr.RETRY_COUNT, record["retryCount"]
            latest = " AND (attribute_not_exists(#r) OR #r <= :retry)"
        try:
            self.table.update_item(
                Key={TABLE_KEY: record["jobId"]},
                UpdateExpression=update,
                ConditionExpression=(
                    f"attribute_not_exists({TABLE_KEY}) OR (#s IN ({', '.join(placeholders)}){latest})"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            current = self.table.get_item(Key={TABLE_KEY: record["jobId"]}, ConsistentRead=True).get("Item", {})
            if current.get(Attr.STATUS) in PENDING_STATUSES:
                raise _Superseded from None
            raise JobRecordFinal(
                f"job {record['jobId']} of this execution has already ended; its record is final"
            ) from None


# DynamoDB answers worth a retry of the task: throttling, a server-side error, or no answer at all.
_TRANSIENT_CODES = THROTTLING_ERRORS | {"InternalServerError", "ServiceUnavailable", "TransactionConflictException"}


def _transient(err: ClientError | BotoCoreError) -> bool:
    if isinstance(err, ClientError):
        code = str(err.response.get("Error", {}).get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code in _TRANSIENT_CODES or status >= 500
    return isinstance(err, BotoConnectionError | HTTPClientError)


def upsert(item: Mapping[str, Any], *, replaced: tuple[str, ...]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """An UpdateItem that writes a new item whole, or on a retry only its `replaced` attributes
    (every other one keeps what the first write stored): update expression, names, values."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    assignments = []
    for i, (attribute, value) in enumerate(item.items()):
        if attribute == TABLE_KEY:
            continue  # the key goes in Key: DynamoDB refuses an update expression that sets it
        names[f"#a{i}"], values[f":v{i}"] = attribute, value
        if attribute in replaced:
            assignments.append(f"#a{i} = :v{i}")
        else:
            assignments.append(f"#a{i} = if_not_exists(#a{i}, :v{i})")
    return "SET " + ", ".join(assignments), names, values


_creator: JobCreator | None = None


def _default_creator() -> JobCreator:
    global _creator
    if _creator is None:
        schedule = env_poll_schedule()
        _creator = JobCreator(
            table=boto3.resource("dynamodb").Table(env_str("TASK_TOKENS_TABLE_NAME")),
            poll_table=boto3.resource("dynamodb").Table(env_str("POLL_STATE_TABLE_NAME")),
            api=JobApiClient(
                lambda_client=boto3.client("lambda"), function_name=env_str("SIMULATED_API_FUNCTION_NAME")
            ),
            default_max_attempts=env_int("MAX_ATTEMPTS", minimum=1),
            record_ttl_days=env_int("RECORD_TTL_DAYS", minimum=1),
            limits=Limits(
                max_attempts=env_int("MAX_ATTEMPTS_LIMIT", minimum=1),
                max_input_bytes=env_int("MAX_INPUT_BYTES", minimum=1),
                schedule=schedule,
            ),
            schedule=schedule,
        )
    return _creator


@inject_lambda_context(logger, correlation={"executionArn": "executionId"})
def lambda_handler(event: CreateJobEvent, context: Any, creator: JobCreator | None = None) -> dict[str, str]:
    return (creator or _default_creator()).handle(event)
