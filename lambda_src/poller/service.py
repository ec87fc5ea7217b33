"""One poller run: claim each pending job, check it, and resume, fail or heartbeat its execution.

Exactly one SendTaskSuccess/SendTaskFailure per job: only the holder of the job's claim sends, and
the final status is written only after the send succeeded (a failed send leaves the job POLLING).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from common.clock import iso, utc_now
from common.job_api import JobApiClient, JobApiError, JobNotFound
from common.log import get_logger, token_fingerprint
from poller.decisions import TOKEN_GONE_ERRORS, Action, Decision, decide, job_lost
from poller.store import TokenRecord, TokenStore

logger = get_logger("poller")

# "deferred": left untouched because the run was out of time; the next run takes it.
OUTCOMES = ("succeeded", "failed", "heartbeats", "expired", "skipped", "errors", "deferred")


class UnknownJob(LookupError):
    """poll was asked for a job id that has no token record."""


@dataclass(kw_only=True)
class Poller:
    store: TokenStore
    api: JobApiClient
    sfn: Any  # boto3 Step Functions client
    concurrency: int = 16
    claim_seconds: int = 300
    clock: Callable[[], datetime] = utc_now
    owner: str = field(default_factory=lambda: f"poller-{uuid.uuid4().hex[:12]}")

    def run(self, job_id: str | None = None, *, deadline: float | None = None) -> dict[str, Any]:
        """Process one job (job_id given) or every pending job; return counts of what happened.

        deadline (time.monotonic() seconds): claim no job after it, so a run that cannot finish
        the whole batch before the function times out leaves the rest unclaimed for the next run.
        """
        if job_id is not None:
            record = self.store.get(job_id)
            if record is None:
                raise UnknownJob(f"no job {job_id!r} in the task-token table; list jobs with `callbackctl monitor`")
            records: Iterable[TokenRecord] = [record]
        else:
            records = self.store.pending()
        counts: Counter[str] = Counter({name: 0 for name in OUTCOMES})
        checked = 0
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            for outcome in pool.map(lambda record: self._process_safely(record, deadline), records):
                counts[outcome] += 1
                checked += 1
        summary: dict[str, Any] = {"checked": checked, **{name: counts[name] for name in OUTCOMES}}
        logger.info("poller run finished", extra={"summary": summary, "owner": self.owner})
        return summary

    def _process_safely(self, record: TokenRecord, deadline: float | None = None) -> str:
        """One bad job never stops the batch."""
        if deadline is not None and time.monotonic() > deadline:
            return "deferred"
        try:
            return self._process(record)
        except Exception:
            logger.exception("job could not be processed", extra={"jobId": record.get("jobId")})
            return "errors"

    def _process(self, record: TokenRecord) -> str:
        job_id = record["jobId"]
        if record.get("status") != "POLLING":
            return "skipped"
        now = self.clock()
        claimed = self.store.claim(
            job_id, owner=self.owner, now=int(now.timestamp()), claim_seconds=self.claim_seconds, updated_at=iso(now)
        )
        if claimed is None:  # final already, or another poller holds it
            return "skipped"
        try:
            return self._check_and_send(claimed)
        except Exception:
            # Whatever went wrong after the claim, give the job back for the next run at once
            # instead of leaving it locked until the claim lapses.
            logger.exception("job could not be processed; job stays pending", extra={"jobId": job_id})
            self._release(job_id)
            return "errors"

    def _check_and_send(self, claimed: TokenRecord) -> str:
        job_id = claimed["jobId"]
        try:
            report = self.api.check_status(job_id)
        except JobNotFound as err:
            decision = job_lost(job_id, err.message)
        except (JobApiError, ClientError, BotoCoreError) as err:
            logger.warning("status check failed; job stays pending", extra={"jobId": job_id, "error": str(err)})
            self._release(job_id)
            return "errors"
        else:
            decision = decide(report, attempt=claimed["attemptCount"], max_attempts=claimed["maxAttempts"])
        return self._send(claimed, decision)

    def _send(self, record: TokenRecord, decision: Decision) -> str:
        job_id, token = record["jobId"], record["taskToken"]
        log = {"jobId": job_id, "token": token_fingerprint(token), "action": decision.action.value}
        try:
            if decision.action is Action.SUCCEED:
                self.sfn.send_task_success(taskToken=token, output=decision.output or "{}")
            elif decision.action is Action.FAIL:
                self.sfn.send_task_failure(taskToken=token, error=decision.error, cause=decision.cause)
            else:
                self.sfn.send_task_heartbeat(taskToken=token)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in TOKEN_GONE_ERRORS:
                logger.info("token no longer accepted; job expired", extra={**log, "error": code})
                self._finish(job_id, "EXPIRED", f"{code} on {decision.action.value}")
                return "expired"
            logger.warning("send failed; job stays pending for the next run", extra={**log, "error": code})
            self._release(job_id)
            return "errors"
        except BotoCoreError as err:
            logger.warning("send failed; job stays pending for the next run", extra={**log, "error": str(err)})
            self._release(job_id)
            return "errors"
        if decision.action is Action.HEARTBEAT:
            self._release(job_id)
            return "heartbeats"
        assert decision.final_status is not None
        self._finish(job_id, decision.final_status, decision.error)
        logger.info("execution resumed" if decision.action is Action.SUCCEED else "execution failed", extra=log)
        return "succeeded" if decision.action is Action.SUCCEED else "failed"

    def _release(self, job_id: str) -> None:
        try:
            released = self.store.release(job_id, owner=self.owner, updated_at=iso(self.clock()))
        except (ClientError, BotoCoreError):
            logger.exception("could not release the claim; it lapses on its own", extra={"jobId": job_id})
            return
        if not released:
            logger.warning("claim lapsed before release", extra={"jobId": job_id})

    def _finish(self, job_id: str, status: str, detail: str | None) -> None:
        if not self.store.finish(job_id, owner=self.owner, status=status, updated_at=iso(self.clock()), detail=detail):
            logger.error("claim lapsed before the final status was written", extra={"jobId": job_id, "status": status})
