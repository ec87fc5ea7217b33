"""One poller run: claim each due job of a shard, check it, and heartbeat, resume or fail its execution.

Exactly one SendTaskSuccess/SendTaskFailure per job, and a record that says what the execution did:
- only the holder of a job's claim works on it; the decision and the final status are written in
  transactions conditional on that claim and on the token;
- a final decision is written (token record SENDING) before it is sent, and the record is marked
  final after the send; a job found SENDING is resent the same decision, after DescribeExecution
  shows the execution is still waiting (so a send whose final write failed is not repeated);
- a token the execution refuses (TaskTimedOut, InvalidToken, TaskDoesNotExist) is reconciled with
  the execution's real end (DescribeExecution), and a job nobody waits for is cancelled at the API.

Scale (docs/design.md, "Scale"): a run works one shard at a time, under a lease, so runs never
crowd one shard; it reads only due jobs; claiming a job is the poll's one write and sets the next
poll time (backed off, common/schedule.py); a heartbeat goes out only when the last one is
`heartbeat_refresh` old, also when the status check fails (the heartbeat guards against a dead
poller, the task timeout against a dead API); SendTask* and job API calls stay under rate limits.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from common import records
from common.clock import iso, utc_now
from common.errors import THROTTLING_ERRORS
from common.job_api import JobApiClient, JobApiError, JobNotFound
from common.log import get_logger, token_fingerprint
from common.records import PollState, TokenRecord, epoch_ms
from common.schedule import PollSchedule
from poller.decisions import REDRIVEN, TOKEN_GONE_ERRORS, Action, Decision, decide, job_lost, reconcile
from poller.ratelimit import RateLimiter
from poller.store import DueJob, JobTables

logger = get_logger("poller")

# What a run counts. A job counts once in checked and once or twice below (a failed status check
# counts in errors and, when its heartbeat went out, in heartbeats).
#   polled: the job still runs and owed no heartbeat: the claim was the poll's only write
#   reconciled: a resent or refused callback found the execution ended by our earlier callback
#   skipped: claimed by another poller, final already, or its token was just replaced
#   errors: a step failed; the job stays pending and comes due again
#   throttled: a service answered "slow down"; the job comes due again
#   deferred: due, but left for the next run because this one was out of time
#   busyShards: shards another run was working, left to it
# What a run saw of the backlog (metrics gauges, see poller/metrics.py).
RUN_GAUGES = ("dueJobs", "oldestJobAgeSeconds", "dueLagSeconds")
RUN_COUNTS = (
    "checked",
    "polled",
    "succeeded",
    "failed",
    "heartbeats",
    "expired",
    "cancelled",
    "reconciled",
    "skipped",
    "errors",
    "throttled",
    "deferred",
    "busyShards",
)
_FINAL_COUNT = {records.EXPIRED: "expired", records.CANCELLED: "cancelled"}
# After its deadline a run only counts the due jobs it leaves (deferred), for at most this long: a
# third of the 15 s it keeps before its timeout. Past it, deferred is a lower bound.
DEFERRED_COUNTING_SECONDS = 5.0
_TRANSIENT = (ClientError, BotoCoreError)


class UnknownJob(LookupError):
    """poll was asked for a job id that has no token record."""


def new_counts() -> Counter[str]:
    return Counter({name: 0 for name in RUN_COUNTS})


@dataclass(kw_only=True)
class Poller:
    tables: JobTables
    api: JobApiClient
    sfn: Any  # boto3 Step Functions client
    concurrency: int
    schedule: PollSchedule
    # How long a stored decision holds its job, and a run its shard (the stage's claim_seconds,
    # which outlasts the function's timeout: a run that dies lets its shard go after it).
    sending_lease_seconds: int
    send_limiter: RateLimiter  # this run's share of the SendTask* rate
    api_limiter: RateLimiter  # this run's share of the job API's rate
    clock: Callable[[], datetime] = utc_now
    rng: random.Random = field(default_factory=random.Random)

    def run(
        self,
        job_id: str | None = None,
        *,
        shard: str | None = None,
        deadline: float | None = None,
        counts: Counter[str] | None = None,
    ) -> dict[str, int]:
        """Work the due jobs of `shard` (of every shard if None), or only the job job_id.

        deadline (time.monotonic() seconds): claim no job after it; the rest are counted as deferred
        and left due for the next run. counts, when given, is filled as the run goes (so a caller
        can report what a run that raised had done).
        """
        counts = new_counts() if counts is None else counts
        run = _Run(poller=self, owner=f"poller-{uuid.uuid4().hex[:12]}", started=self.clock())
        if job_id is not None:
            counts.update(self._poll_one(run, job_id))
            counts["checked"] += 1
        else:
            shards = [shard] if shard is not None else [str(n) for n in range(self.schedule.shards)]
            for one in shards:
                self._work_shard(run, one, deadline, counts)
        summary = {name: counts[name] for name in RUN_COUNTS}
        if job_id is None:
            summary.update({name: counts[name] for name in RUN_GAUGES})
        logger.info("poller run finished", extra={"summary": summary, "owner": run.owner, "shard": shard})
        return summary

    def _poll_one(self, run: _Run, job_id: str) -> list[str]:
        state = self.tables.poll_state(job_id)
        if state is None or records.DUE_AT not in state:  # none, or a shard lease ("shard#n")
            if self.tables.token_record(job_id) is None:
                raise UnknownJob(f"no job {job_id!r} in the task-token table; list jobs with `callbackctl monitor`")
            return ["skipped"]  # final already: nothing to poll
        due = DueJob(job_id, state["dueAt"], state.get("heartbeatAt", 0), state.get("intervalMs", 0))
        return run.process_safely(due, due_only=False)

    def _work_shard(self, run: _Run, shard: str, deadline: float | None, counts: Counter[str]) -> None:
        now_ms = epoch_ms(self.clock())
        if not self.tables.lease_shard(
            shard, owner=run.owner, now_ms=now_ms, until_ms=now_ms + self.sending_lease_seconds * 1000
        ):
            logger.info("shard busy: another run works it", extra={"shard": shard})
            counts["busyShards"] += 1
            return
        try:
            self._work(run, self.tables.due(shard=shard, now_ms=epoch_ms(run.started)), deadline, counts, shard)
        finally:
            self.tables.release_shard(shard, owner=run.owner)

    def _work(
        self, run: _Run, due_jobs: Iterable[DueJob], deadline: float | None, counts: Counter[str], shard: str
    ) -> None:
        """Feed due jobs to the workers as they free up: the index is read as fast as it is worked."""
        workers = max(1, self.concurrency)
        in_flight: set[Future[list[str]]] = set()
        started_ms = epoch_ms(run.started)
        first = True

        def collect(done: set[Future[list[str]]]) -> None:
            for future in done:
                counts.update(future.result())
                counts["checked"] += 1
            counts["dueJobs"] = counts["checked"] + counts["deferred"]
            counts["oldestJobAgeSeconds"] = max(counts["oldestJobAgeSeconds"], int(run.oldest_age_seconds))

        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                for due in due_jobs:
                    if first:  # the first is the most overdue
                        counts["dueLagSeconds"] = max(counts["dueLagSeconds"], max(0, started_ms - due.due_ms) // 1000)
                        first = False
                    now = time.monotonic()
                    if deadline is not None and now > deadline:
                        if now > deadline + DEFERRED_COUNTING_SECONDS:
                            # Reading page after page only to count them could itself run into
                            # the function's timeout: stop, and say the count is short.
                            logger.warning(
                                f"out of time counting the deferred jobs: more than {counts['deferred']} are due",
                                extra={"shard": shard},
                            )
                            break
                        counts["deferred"] += 1
                        continue
                    if len(in_flight) >= workers:
                        done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        collect(done)
                    in_flight.add(pool.submit(run.process_safely, due))
            finally:
                # Also when reading the due jobs failed: the jobs already submitted still count.
                collect(set(in_flight))


@dataclass(kw_only=True)
class _Job:
    """One claimed job: its poll state after the claim, and the heartbeat the claim recorded."""

    state: PollState
    heartbeat_owed: bool  # the claim recorded a heartbeat sent now: it must go out
    previous_heartbeat_ms: int  # what to put back if it does not
    record: TokenRecord | None = None  # the token record, read only when the job needs its token

    @property
    def job_id(self) -> str:
        return self.state["jobId"]


@dataclass(kw_only=True)
class _Run:
    """One run's view: its claim owner and start time, and what it does with one job."""

    poller: Poller
    owner: str
    started: datetime
    oldest_age_seconds: float = 0.0  # the longest any job this run claimed has waited

    def process_safely(self, due: DueJob, due_only: bool = True) -> list[str]:
        """One bad job never stops the batch."""
        try:
            return self._process(due, due_only)
        except Exception:
            logger.exception("job could not be processed", extra={"jobId": due.job_id})
            return ["errors"]

    def _process(self, due: DueJob, due_only: bool) -> list[str]:
        schedule = self.poller.schedule
        now = self.poller.clock()
        now_ms = epoch_ms(now)
        refresh_ms = int(schedule.heartbeat_refresh * 1000)
        owed = now_ms - due.heartbeat_ms >= refresh_ms
        interval_s = schedule.next_interval(due.interval_ms / 1000) if due.interval_ms else schedule.initial
        next_due = now_ms + int(schedule.wait(interval_s, self.poller.rng) * 1000)
        # Never later than the next heartbeat this job will owe.
        next_due = min(next_due, (now_ms if owed else due.heartbeat_ms) + refresh_ms)
        state = self.poller.tables.claim(
            due.job_id,
            owner=self.owner,
            now_ms=now_ms,
            next_due_ms=max(next_due, now_ms + 1),
            interval_ms=int(interval_s * 1000),
            heartbeat=owed,
            due_only=due_only,
        )
        if state is None:  # gone, or another run holds it
            return ["skipped"]
        job = _Job(state=state, heartbeat_owed=owed, previous_heartbeat_ms=due.heartbeat_ms)
        waited = (now - datetime.fromisoformat(state["createdAt"])).total_seconds() if "createdAt" in state else 0
        self.oldest_age_seconds = max(self.oldest_age_seconds, waited)  # a race between threads only loses a max
        try:
            if state.get("sending"):
                return self._resend(job)
            return self._poll(job)
        except Exception:
            # Whatever went wrong after the claim, give the job back for the next run instead of
            # leaving it until its next poll, with its heartbeat owed again.
            logger.exception("job could not be processed; job stays pending", extra={"jobId": job.job_id})
            self._release(job)
            return ["errors"]

    def _poll(self, job: _Job) -> list[str]:
        job_id = job.job_id
        try:
            self.poller.api_limiter.acquire()
            report = self.poller.api.check_status(job_id)
        except JobNotFound as err:
            decision = job_lost(job_id, err.message)
        except (JobApiError, *_TRANSIENT) as err:
            if _code(err) in THROTTLING_ERRORS:
                self.poller.api_limiter.throttled()
            logger.warning("status check failed; heartbeat only", extra={"jobId": job_id, "error": str(err)})
            return ["errors", *self._heartbeat(job, check_failed=True)]
        else:
            decision = decide(
                report,
                attempt=job.state["attemptCount"],
                max_attempts=job.state["maxAttempts"],
                input_bytes=job.state.get("inputBytes", 0),
            )
        if decision.action is Action.HEARTBEAT:
            return self._heartbeat(job) if job.heartbeat_owed else ["polled"]
        record = self._record(job)
        if record is None:
            return ["skipped"]
        stored = decision.stored()
        lease_until = epoch_ms(self.poller.clock()) + self.poller.sending_lease_seconds * 1000
        if not self.poller.tables.store_decision(
            record, owner=self.owner, decision=stored, updated_at=self._now(), lease_until_ms=lease_until
        ):
            # The claim lapsed, or a retried task replaced the token: give the job back (conditional
            # on the claim, so harmless if it is another run's now) and poll it afresh.
            logger.warning("claim lost or token replaced before the decision was stored", extra={"jobId": job_id})
            self._release(job)
            return ["skipped"]
        return self._deliver(job, record, decision)

    def _record(self, job: _Job) -> TokenRecord | None:
        """The job's token record, if it is still pending; a job whose record is final (a finish
        whose delete was lost) or gone leaves the index."""
        if job.record is None:
            job.record = self.poller.tables.token_record(job.job_id)
        record = job.record
        if record is None or record.get("status") not in records.PENDING_STATUSES:
            status = "missing" if record is None else record.get("status")
            logger.warning(
                "token record not pending; poll state removed", extra={"jobId": job.job_id, "status": status}
            )
            self.poller.tables.forget(job.job_id, owner=self.owner)
            return None
        return record

    def _resend(self, job: _Job) -> list[str]:
        """A decision was stored but the record never became final: send it again, unless the
        execution already took it (the send went through, the final write did not)."""
        record = self._record(job)
        if record is None:
            return ["skipped"]
        if record.get("status") != records.SENDING:
            # A retried task replaced the token after the decision: poll the job afresh.
            return self._poll(job)
        status, error = self._execution_end(record)
        if status != "RUNNING":
            return self._settle(job, record, status, error, refused="found SENDING")
        logger.info("resending a stored decision", extra=self._log(record))
        return self._deliver(job, record, Decision.from_stored(record["decision"]))

    def _heartbeat(self, job: _Job, *, check_failed: bool = False) -> list[str]:
        if not job.heartbeat_owed:
            if check_failed:
                self._release(job, due_ms=job.state["dueAt"], refund_attempt=True, restore_heartbeat=False)
            return []
        record = self._record(job)
        if record is None:
            return ["skipped"]
        try:
            self.poller.send_limiter.acquire()
            self.poller.sfn.send_task_heartbeat(taskToken=record["taskToken"])
        except ClientError as err:
            if _code(err) in TOKEN_GONE_ERRORS:
                return self._refused(job, record, _code(err), "HEARTBEAT")
            if _code(err) in THROTTLING_ERRORS:
                self.poller.send_limiter.throttled()
                self._release(job, refund_attempt=check_failed)
                return ["throttled"]
            raise
        if check_failed:
            self._release(job, due_ms=job.state["dueAt"], refund_attempt=True, restore_heartbeat=False)
        return ["heartbeats"]

    def _deliver(self, job: _Job, record: TokenRecord, decision: Decision) -> list[str]:
        token = record["taskToken"]
        log = {**self._log(record), "action": decision.action.value}
        try:
            self.poller.send_limiter.acquire()
            if decision.action is Action.SUCCEED:
                self.poller.sfn.send_task_success(taskToken=token, output=decision.output or "{}")
            else:
                self.poller.sfn.send_task_failure(taskToken=token, error=decision.error, cause=decision.cause)
        except ClientError as err:
            if _code(err) in TOKEN_GONE_ERRORS:
                return self._refused(job, record, _code(err), decision.action.value)
            throttled = _code(err) in THROTTLING_ERRORS
            if throttled:
                self.poller.send_limiter.throttled()
            logger.warning("send failed; the decision is resent next time", extra={**log, "error": _code(err)})
            self._keep_alive(job, record)
            self._release(job)
            return ["throttled" if throttled else "errors"]
        except BotoCoreError as err:
            logger.warning("send failed; the decision is resent next time", extra={**log, "error": str(err)})
            self._keep_alive(job, record)
            self._release(job)
            return ["errors"]
        logger.info("callback sent", extra=log)
        assert decision.final_status is not None
        if not self.poller.tables.finish(
            record,
            owner=self.owner,
            status=decision.final_status,
            updated_at=self._now(),
            detail=decision.error or "",
            attempts=job.state.get("attemptCount", 0),
        ):
            logger.error("claim lost before the final status was written", extra=log)
        return ["succeeded" if decision.action is Action.SUCCEED else "failed"]

    def _keep_alive(self, job: _Job, record: TokenRecord) -> None:
        """After a failed send, the heartbeat this poll owes still goes out if it can: sends that
        keep failing must not let the waiting task time out on its heartbeat. If it cannot, the
        release puts the last heartbeat back, so the next poll owes it again."""
        if not job.heartbeat_owed:
            return
        try:
            self.poller.sfn.send_task_heartbeat(taskToken=record["taskToken"])
        except (ClientError, BotoCoreError) as err:
            logger.warning("heartbeat after a failed send failed too", extra={**self._log(record), "error": str(err)})
            return
        job.heartbeat_owed = False  # it went out: the release keeps it recorded

    def _refused(self, job: _Job, record: TokenRecord, code: str, what: str) -> list[str]:
        """The execution refused the token: find out how it ended and make the record say so."""
        status, error = self._execution_end(record)
        return self._settle(job, record, status, error, refused=f"{code} on {what}")

    def _settle(
        self, job: _Job, record: TokenRecord, status: str | None, error: str | None, *, refused: str
    ) -> list[str]:
        job_id = record["jobId"]
        outcome = reconcile(status, error, refused)
        log = {**self._log(record), "detail": outcome.detail}
        if outcome.final_status is None:
            current = self.poller.tables.token_record(job_id)
            if current is not None and current.get("taskToken") != record["taskToken"]:
                logger.info("token replaced by a retried task; the new one is polled", extra=log)
            else:
                logger.warning("execution still runs but refused its token", extra=log)
            self._release(job)
            return ["skipped"]
        if outcome.cancel_job:
            try:
                self.poller.api_limiter.acquire()
                self.poller.api.cancel_job(job_id)  # raises: the job stays pending and is retried
            except JobNotFound:
                logger.info("job unknown to the job API: nothing to cancel", extra=log)
        if not self.poller.tables.finish(
            record,
            owner=self.owner,
            status=outcome.final_status,
            updated_at=self._now(),
            detail=outcome.detail,
            attempts=job.state.get("attemptCount", 0),
        ):
            logger.error("claim lost before the final status was written", extra=log)
        logger.info("record settled by the execution's end", extra={**log, "status": outcome.final_status})
        return [_FINAL_COUNT.get(outcome.final_status, "reconciled")]

    def _execution_end(self, record: TokenRecord) -> tuple[str | None, str | None]:
        """DescribeExecution's status and error (None, None: the execution no longer exists;
        REDRIVEN: it was redriven after the record's run, whose end it no longer describes)."""
        try:
            described = self.poller.sfn.describe_execution(executionArn=record["executionArn"])
        except ClientError as err:
            if _code(err) == "ExecutionDoesNotExist":
                return None, None
            raise
        run = record.get("redriveCount")  # None: a record written before create_job stored its run
        if run is not None and int(described.get("redriveCount", 0)) > run:
            return REDRIVEN, None
        return described["status"], described.get("error")

    def _release(
        self,
        job: _Job,
        *,
        due_ms: int | None = None,
        refund_attempt: bool = False,
        restore_heartbeat: bool = True,
    ) -> None:
        """Give the job back after a failed step: due at the next scheduled run (or due_ms), with
        the heartbeat the claim recorded put back if it did not go out."""
        if due_ms is None:
            due_ms = epoch_ms(self.started) + int(self.poller.schedule.min_initial * 900)  # 90% of an interval on
        heartbeat = job.previous_heartbeat_ms if restore_heartbeat and job.heartbeat_owed else None
        try:
            released = self.poller.tables.release(
                job.job_id, owner=self.owner, due_ms=due_ms, refund_attempt=refund_attempt, heartbeat_ms=heartbeat
            )
        except _TRANSIENT:
            logger.exception("could not release the claim; the job comes due on its own", extra={"jobId": job.job_id})
            return
        if not released:
            logger.warning("claim lapsed before release", extra={"jobId": job.job_id})

    def _now(self) -> str:
        return iso(self.poller.clock())

    @staticmethod
    def _log(record: TokenRecord) -> dict[str, Any]:
        return {"jobId": record["jobId"], "token": token_fingerprint(record["taskToken"])}


def _code(err: Exception) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    if isinstance(err, JobApiError):
        return err.error_type
    return ""
