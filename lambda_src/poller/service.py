"""One poller run: claim each due job, check it, and heartbeat, resume or fail its execution.

Exactly one SendTaskSuccess/SendTaskFailure per job, and a record that says what the execution did:
- only the holder of a job's claim works on it, and every write after the claim is conditional on it;
- a final decision is written (status SENDING) before it is sent, and the record is marked final
  after the send; a record found in SENDING is resent the same decision, after DescribeExecution
  shows the execution is still waiting (so a send whose final write failed is not repeated);
- a token the execution refuses (TaskTimedOut, InvalidToken, TaskDoesNotExist) is reconciled with
  the execution's real end (DescribeExecution), and a job nobody waits for is cancelled at the API.

Every waiting job gets its heartbeat, even when the status check fails (the heartbeat guards against
a dead poller, the task timeout against a dead API); jobs are taken most overdue first.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from common import records
from common.clock import iso, utc_now
from common.job_api import JobApiClient, JobApiError, JobNotFound
from common.log import get_logger, token_fingerprint
from common.records import TokenRecord, epoch_ms
from poller.decisions import TOKEN_GONE_ERRORS, Action, Decision, decide, job_lost, reconcile
from poller.store import DueJobId, TokenStore

logger = get_logger("poller")

# What a run counts. A job counts once in checked and once or twice below (a failed status check
# counts in errors and, when its heartbeat went out, in heartbeats).
#   reconciled: a resent or refused callback found the execution ended by our earlier callback
#   skipped: claimed by another poller, final already, or its token was just replaced
#   errors: a step failed; the job stays pending and comes due again
#   deferred: due, but left for the next run because this one was out of time
# What a scheduled run saw of the backlog (metrics gauges, see poller/metrics.py).
RUN_GAUGES = ("dueJobs", "oldestJobAgeSeconds", "dueLagSeconds")
RUN_COUNTS = (
    "checked",
    "succeeded",
    "failed",
    "heartbeats",
    "expired",
    "cancelled",
    "reconciled",
    "skipped",
    "errors",
    "deferred",
)
_FINAL_COUNT = {records.EXPIRED: "expired", records.CANCELLED: "cancelled"}
_TRANSIENT = (ClientError, BotoCoreError)


class UnknownJob(LookupError):
    """poll was asked for a job id that has no token record."""


def new_counts() -> Counter[str]:
    return Counter({name: 0 for name in RUN_COUNTS})


@dataclass(kw_only=True)
class Poller:
    store: TokenStore
    api: JobApiClient
    sfn: Any  # boto3 Step Functions client
    concurrency: int
    claim_seconds: int
    poll_interval_seconds: float  # real seconds between scheduled runs
    clock: Callable[[], datetime] = utc_now

    def run(
        self, job_id: str | None = None, *, deadline: float | None = None, counts: Counter[str] | None = None
    ) -> dict[str, int]:
        """Work every due job (or the job job_id) and return the run's counts.

        deadline (time.monotonic() seconds): claim no job after it; the rest are counted as deferred
        and left due for the next run. counts, when given, is filled as the run goes (so a caller
        can report what a run that raised had done).
        """
        counts = new_counts() if counts is None else counts
        run = _Run(poller=self, owner=f"poller-{uuid.uuid4().hex[:12]}", started=self.clock())
        if job_id is not None:
            if self.store.get(job_id) is None:
                raise UnknownJob(f"no job {job_id!r} in the task-token table; list jobs with `callbackctl monitor`")
            counts.update(run.process_safely(job_id, due_only=False))
            counts["checked"] += 1
        else:
            self._work(run, self.store.due(now_ms=epoch_ms(run.started)), deadline, counts)
        summary = {name: counts[name] for name in RUN_COUNTS}
        if job_id is None:
            summary.update({name: counts[name] for name in RUN_GAUGES})
        logger.info("poller run finished", extra={"summary": summary, "owner": run.owner})
        return summary

    def _work(self, run: _Run, job_ids: Iterable[str], deadline: float | None, counts: Counter[str]) -> None:
        """Feed due jobs to the workers as they free up: the index is read as fast as it is worked."""
        workers = max(1, self.concurrency)
        in_flight: set[Future[list[str]]] = set()
        started_ms = epoch_ms(run.started)

        def collect(done: set[Future[list[str]]]) -> None:
            for future in done:
                counts.update(future.result())
                counts["checked"] += 1
            counts["dueJobs"] = counts["checked"] + counts["deferred"]
            counts["oldestJobAgeSeconds"] = max(counts["oldestJobAgeSeconds"], int(run.oldest_age_seconds))

        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                for index, job_id in enumerate(job_ids):
                    if index == 0 and isinstance(job_id, DueJobId):  # the first is the most overdue
                        counts["dueLagSeconds"] = max(0, started_ms - job_id.due_ms) // 1000
                    if deadline is not None and time.monotonic() > deadline:
                        counts["deferred"] += 1
                        continue
                    if len(in_flight) >= workers:
                        done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        collect(done)
                    in_flight.add(pool.submit(run.process_safely, job_id))
            finally:
                # Also when reading the due jobs failed: the jobs already submitted still count.
                collect(set(in_flight))


@dataclass(kw_only=True)
class _Run:
    """One run's view: its claim owner and start time, and what it does with one job."""

    poller: Poller
    owner: str
    started: datetime
    oldest_age_seconds: float = 0.0  # the longest any job this run claimed has waited

    def process_safely(self, job_id: str, due_only: bool = True) -> list[str]:
        """One bad job never stops the batch."""
        try:
            return self._process(job_id, due_only)
        except Exception:
            logger.exception("job could not be processed", extra={"jobId": job_id})
            return ["errors"]

    def _process(self, job_id: str, due_only: bool) -> list[str]:
        now = self.poller.clock()
        record = self.poller.store.claim(
            job_id,
            owner=self.owner,
            now_ms=epoch_ms(now),
            lease_ms=self.poller.claim_seconds * 1000,
            updated_at=iso(now),
            due_only=due_only,
        )
        if record is None:  # final already, or another poller holds it
            return ["skipped"]
        waited = (now - datetime.fromisoformat(record["createdAt"])).total_seconds() if "createdAt" in record else 0
        self.oldest_age_seconds = max(self.oldest_age_seconds, waited)  # a race between threads only loses a max
        try:
            if record["status"] == records.SENDING:
                return self._resend(record)
            return self._poll(record)
        except Exception:
            # Whatever went wrong after the claim, give the job back now instead of leaving it
            # locked until the claim lapses.
            logger.exception("job could not be processed; job stays pending", extra={"jobId": job_id})
            self._release(record)
            return ["errors"]

    def _poll(self, record: TokenRecord) -> list[str]:
        job_id = record["jobId"]
        try:
            report = self.poller.api.check_status(job_id)
        except JobNotFound as err:
            decision = job_lost(job_id, err.message)
        except (JobApiError, *_TRANSIENT) as err:
            logger.warning("status check failed; heartbeat only", extra={"jobId": job_id, "error": str(err)})
            return ["errors", *self._heartbeat(record, refund_attempt=True)]
        else:
            decision = decide(
                report,
                attempt=record["attemptCount"],
                max_attempts=record["maxAttempts"],
                input_bytes=record.get("inputBytes", 0),
            )
        if decision.action is Action.HEARTBEAT:
            return self._heartbeat(record)
        stored = decision.stored()
        if not self.poller.store.store_decision(record, owner=self.owner, decision=stored, updated_at=self._now()):
            logger.warning("claim lost before the decision was stored", extra={"jobId": job_id})
            return ["skipped"]
        return self._deliver(record, decision)

    def _resend(self, record: TokenRecord) -> list[str]:
        """A decision was stored but the record never became final: send it again, unless the
        execution already took it (the send went through, the final write did not)."""
        status, error = self._execution_end(record)
        if status != "RUNNING":
            return self._settle(record, status, error, refused="found SENDING")
        logger.info("resending a stored decision", extra=self._log(record))
        return self._deliver(record, Decision.from_stored(record["decision"]))

    def _heartbeat(self, record: TokenRecord, *, refund_attempt: bool = False) -> list[str]:
        try:
            self.poller.sfn.send_task_heartbeat(taskToken=record["taskToken"])
        except ClientError as err:
            if _code(err) in TOKEN_GONE_ERRORS:
                return self._refused(record, _code(err), "HEARTBEAT")
            raise
        self._release(record, refund_attempt=refund_attempt)
        return ["heartbeats"]

    def _deliver(self, record: TokenRecord, decision: Decision) -> list[str]:
        token = record["taskToken"]
        log = {**self._log(record), "action": decision.action.value}
        try:
            if decision.action is Action.SUCCEED:
                self.poller.sfn.send_task_success(taskToken=token, output=decision.output or "{}")
            else:
                self.poller.sfn.send_task_failure(taskToken=token, error=decision.error, cause=decision.cause)
        except ClientError as err:
            if _code(err) in TOKEN_GONE_ERRORS:
                return self._refused(record, _code(err), decision.action.value)
            logger.warning("send failed; the decision is resent next time", extra={**log, "error": _code(err)})
            self._release(record)
            return ["errors"]
        except BotoCoreError as err:
            logger.warning("send failed; the decision is resent next time", extra={**log, "error": str(err)})
            self._release(record)
            return ["errors"]
        logger.info("callback sent", extra=log)
        assert decision.final_status is not None
        if not self.poller.store.finish(
            record, owner=self.owner, status=decision.final_status, updated_at=self._now(), detail=decision.error or ""
        ):
            logger.error("claim lost before the final status was written", extra=log)
        return ["succeeded" if decision.action is Action.SUCCEED else "failed"]

    def _refused(self, record: TokenRecord, code: str, what: str) -> list[str]:
        """The execution refused the token: find out how it ended and make the record say so."""
        status, error = self._execution_end(record)
        return self._settle(record, status, error, refused=f"{code} on {what}")

    def _settle(self, record: TokenRecord, status: str | None, error: str | None, *, refused: str) -> list[str]:
        job_id = record["jobId"]
        outcome = reconcile(status, error, refused)
        log = {**self._log(record), "detail": outcome.detail}
        if outcome.final_status is None:
            current = self.poller.store.get(job_id)
            if current is not None and current.get("taskToken") != record["taskToken"]:
                logger.info("token replaced by a retried task; the new one is polled", extra=log)
                # The claim is still ours, but the record holds the new token now: release that.
                self._release(current)
            else:
                logger.warning("execution still runs but refused its token", extra=log)
                self._release(record)
            return ["skipped"]
        if outcome.cancel_job:
            try:
                self.poller.api.cancel_job(job_id)  # raises: the job stays pending and is retried
            except JobNotFound:
                logger.info("job unknown to the job API: nothing to cancel", extra=log)
        if not self.poller.store.finish(
            record, owner=self.owner, status=outcome.final_status, updated_at=self._now(), detail=outcome.detail
        ):
            logger.error("claim lost before the final status was written", extra=log)
        logger.info("record settled by the execution's end", extra={**log, "status": outcome.final_status})
        return [_FINAL_COUNT.get(outcome.final_status, "reconciled")]

    def _execution_end(self, record: TokenRecord) -> tuple[str | None, str | None]:
        """DescribeExecution's status and error (None, None: the execution no longer exists)."""
        try:
            described = self.poller.sfn.describe_execution(executionArn=record["executionArn"])
        except ClientError as err:
            if _code(err) == "ExecutionDoesNotExist":
                return None, None
            raise
        return described["status"], described.get("error")

    def _release(self, record: TokenRecord, *, refund_attempt: bool = False) -> None:
        """Give the job back, due at the next scheduled run."""
        due = epoch_ms(self.started) + int(self.poller.poll_interval_seconds * 900)  # 90% of an interval on
        try:
            released = self.poller.store.release(
                record, owner=self.owner, due_ms=due, updated_at=self._now(), refund_attempt=refund_attempt
            )
        except _TRANSIENT:
            logger.exception("could not release the claim; it lapses on its own", extra=self._log(record))
            return
        if not released:
            logger.warning("claim lapsed before release", extra=self._log(record))

    def _now(self) -> str:
        return iso(self.poller.clock())

    @staticmethod
    def _log(record: TokenRecord) -> dict[str, Any]:
        return {"jobId": record["jobId"], "token": token_fingerprint(record["taskToken"])}


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))
