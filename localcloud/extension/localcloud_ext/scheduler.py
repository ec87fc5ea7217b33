"""Fires EventBridge Scheduler schedules inside LocalStack (its open-source core only stores them).

A daemon thread looks at every schedule in LocalStack's Scheduler store (all accounts, regions and
groups) a few times a second and fires the due ones at their target with their ``Input``:

- ``rate(N minutes|hours|days)``: every N units after the schedule was created or last updated
  (or after ``StartDate``), until ``EndDate``;
- ``cron(min hour day-of-month month day-of-week year)`` in ``ScheduleExpressionTimezone``;
- ``at(yyyy-mm-ddThh:mm:ss)`` once; ``ActionAfterCompletion=DELETE`` then deletes the schedule.

``State=DISABLED`` schedules never fire. ``FlexibleTimeWindow`` is ignored (a schedule fires at its
nominal time) and a firing that was missed (clock jump, long pause) fires once, not once per slot.

Clock speed: with ``LOCALCLOUD_CLOCK_SPEED=S`` the scheduler's clock runs S times faster than the
wall clock, starting from the wall-clock time at which LocalStack started: ``rate(1 minute)`` fires
every 60/S seconds, and cron/at/StartDate/EndDate are read on that faster clock.

Targets: Lambda functions (invoked asynchronously, ``InvocationType=Event``, as Scheduler does),
Step Functions state machines (StartExecution), SQS queues and SNS topics. Other targets, including
universal ``aws-sdk`` targets, are counted as failed and logged as unsupported. The context
attributes ``<aws.scheduler.schedule-arn>``, ``<aws.scheduler.scheduled-time>``,
``<aws.scheduler.execution-id>`` and ``<aws.scheduler.attempt-number>`` in ``Input`` are replaced.

Every firing is logged (logger ``localcloud.scheduler``) and counted per schedule ARN; the counts
are served at ``GET /_localcloud/scheduler`` and written to ``$LOCALCLOUD_STATE_DIR/scheduler.json``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from localcloud_ext.periodic import PeriodicThread

if TYPE_CHECKING:  # moto's Scheduler models, as LocalStack's Scheduler store holds them
    from moto.scheduler.models import EventBridgeSchedulerBackend, Schedule

LOG = logging.getLogger("localcloud.scheduler")

RATE_RE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
CRON_RE = re.compile(r"^cron\((.*)\)$")
AT_RE = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
TICK_SECONDS = 0.2


class VirtualClock:
    """Wall time, sped up by ``speed``: equal to the wall clock at start, then ``speed`` virtual
    seconds per real second. The speed can change while running (the clock stays continuous)."""

    def __init__(self, speed: float, origin: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be > 0")
        self.speed = speed
        self._real = self._virtual = time.time() if origin is None else origin
        self._lock = threading.Lock()

    def to_virtual(self, real: float) -> float:
        return self._virtual + (real - self._real) * self.speed

    def now(self) -> float:
        return self.to_virtual(time.time())

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be > 0")
        with self._lock:
            real = time.time()
            self._virtual, self._real, self.speed = self.to_virtual(real), real, speed


def _epoch(value: Any) -> float | None:
    """StartDate/EndDate as stored by the API (epoch number or ISO string) -> epoch seconds."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()


def aws_cron_to_crontab(fields: str) -> str:
    """AWS's 6-field cron (day-of-week 1-7 = SUN-SAT, '?' allowed) -> the crontab package's."""
    parts = fields.split()
    if len(parts) != 6:
        raise ValueError(f"cron needs 6 fields, got {len(parts)}: {fields!r}")
    minute, hour, dom, month, dow, year = (p.replace("?", "*") for p in parts)

    def shift(match: re.Match[str]) -> str:
        return str((int(match.group(0)) - 1) % 7)

    if not re.search(r"[#LW]", dow):
        dow = re.sub(r"(?<![/\d])\d+", shift, dow)  # numbers, but not step values after '/'
    return f"{minute} {hour} {dom} {month} {dow} {year}"


class ScheduleTimer:
    """When a schedule fires next (virtual epoch seconds), for one version of a schedule."""

    def __init__(self, schedule: Schedule, clock: VirtualClock) -> None:
        self.expression = schedule.schedule_expression.strip()
        self.timezone = ZoneInfo(schedule.schedule_expression_timezone or "UTC")
        self.start = _epoch(schedule.start_date)
        self.end = _epoch(schedule.end_date)
        self.clock = clock
        anchor = clock.to_virtual(float(schedule.last_modified_date))
        self.kind, self.next_at = self._first(anchor)

    def _first(self, anchor: float) -> tuple[str, float | None]:
        if m := RATE_RE.match(self.expression):
            self.period = int(m.group(1)) * UNIT_SECONDS[m.group(2).rstrip("s")]
            if self.period <= 0:
                raise ValueError("rate must be positive")
            base = self.start if self.start and self.start > anchor else anchor
            return "rate", base + self.period
        if m := CRON_RE.match(self.expression):
            from crontab import CronTab

            self.cron = CronTab(aws_cron_to_crontab(m.group(1)))
            base = max(anchor, self.start or anchor)
            return "cron", self._cron_after(base)
        if m := AT_RE.match(self.expression):
            local = dt.datetime.fromisoformat(m.group(1)).replace(tzinfo=self.timezone)
            return "at", local.timestamp()
        raise ValueError(f"unsupported schedule expression {self.expression!r}")

    def _cron_after(self, virtual: float) -> float | None:
        now = dt.datetime.fromtimestamp(virtual, tz=self.timezone)
        delay = self.cron.next(now=now, delta=True, default_utc=False)
        return None if delay is None else virtual + max(delay, 0.001)

    def advance(self, now: float) -> None:
        """Move past ``now`` (missed slots are skipped, not fired)."""
        if self.next_at is None:
            return
        if self.kind == "rate":
            missed = math.floor((now - self.next_at) / self.period) + 1
            self.next_at += max(missed, 1) * self.period
        elif self.kind == "cron":
            self.next_at = self._cron_after(now)
        else:
            self.next_at = None

    def due(self, now: float) -> bool:
        if self.next_at is None or now < self.next_at:
            return False
        if self.end is not None and self.next_at > self.end:
            self.next_at = None
            return False
        return True


class SchedulerFirer:
    def __init__(self, clock_speed: float, state_dir: str | None) -> None:
        self.clock = VirtualClock(clock_speed)
        self.state_file = Path(state_dir) / "scheduler.json" if state_dir else None
        self._timers: dict[str, tuple[tuple[object, ...], ScheduleTimer | None]] = {}
        self._stats: dict[str, dict[str, Any]] = {}
        self._stats_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="localcloud-scheduler")
        self._thread = PeriodicThread(
            self._tick, seconds=TICK_SECONDS, name="localcloud-scheduler", log=LOG, failure="scheduler tick failed"
        )
        self._started = time.time()

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        LOG.info("Scheduler started (clock speed %s)", self.clock.speed)
        self._write_stats()
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- loop ----------------------------------------------------------------------------------

    def _schedules(self) -> Iterator[tuple[str, str, EventBridgeSchedulerBackend, Schedule]]:
        from moto.scheduler.models import scheduler_backends

        for account_id, regional in list(dict.items(scheduler_backends)):
            for region, backend in list(dict.items(regional)):
                for group in list(backend.schedule_groups.values()):
                    for schedule in list(group.schedules.values()):
                        yield account_id, region, backend, schedule

    def _tick(self) -> None:
        now = self.clock.now()
        seen = set()
        for account_id, region, backend, schedule in self._schedules():
            arn = schedule.arn
            seen.add(arn)
            version = (
                schedule.last_modified_date,
                schedule.schedule_expression,
                schedule.schedule_expression_timezone,
                str(schedule.start_date),
                str(schedule.end_date),
            )
            known = self._timers.get(arn)
            if known is None or known[0] != version:
                try:
                    timer = ScheduleTimer(schedule, self.clock)
                except Exception as exc:
                    LOG.warning("Schedule %s will not fire: %s", arn, exc)
                    timer = None
                self._timers[arn] = known = (version, timer)
            timer = known[1]
            if timer is None or (schedule.state or "ENABLED") != "ENABLED":
                if timer is not None and timer.kind == "rate" and timer.due(now):
                    timer.advance(now)  # a disabled rate schedule keeps its cadence
                continue
            if timer.due(now) and timer.next_at is not None:
                scheduled = timer.next_at
                timer.advance(now)
                self._pool.submit(self._fire, account_id, region, backend, schedule, scheduled)
        for arn in set(self._timers) - seen:
            del self._timers[arn]

    # --- firing --------------------------------------------------------------------------------

    def _fire(
        self,
        account_id: str,
        region: str,
        backend: EventBridgeSchedulerBackend,
        schedule: Schedule,
        scheduled_at: float,
    ) -> None:
        target = dict(schedule.target or {})
        arn = target.get("Arn", "")
        execution_id = str(uuid.uuid4())
        payload = target.get("Input")
        if payload is None:
            payload = "{}"
        scheduled_iso = dt.datetime.fromtimestamp(scheduled_at, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for key, value in {
            "<aws.scheduler.schedule-arn>": schedule.arn,
            "<aws.scheduler.scheduled-time>": scheduled_iso,
            "<aws.scheduler.execution-id>": execution_id,
            "<aws.scheduler.attempt-number>": "1",
        }.items():
            payload = payload.replace(key, value)
        error = None
        try:
            self._deliver(account_id, region, schedule, arn, payload, target)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        self._record(schedule.arn, arn, error)
        if schedule.action_after_completion == "DELETE" and AT_RE.match(schedule.schedule_expression):
            with contextlib.suppress(Exception):
                backend.delete_schedule(schedule.group_name, schedule.name)

    def _deliver(
        self, account_id: str, region: str, schedule: Schedule, arn: str, payload: str, target: dict[str, Any]
    ) -> None:
        from localstack.aws.connect import connect_to

        parts = arn.split(":")
        service = parts[2] if len(parts) > 5 else ""
        clients = connect_to(aws_access_key_id=account_id, region_name=parts[3] or region)
        if service == "lambda":
            clients.lambda_.request_metadata(source_arn=schedule.arn, service_principal="scheduler").invoke(
                FunctionName=arn, InvocationType="Event", Payload=payload.encode()
            )
        elif service == "states":
            clients.stepfunctions.start_execution(stateMachineArn=arn, input=payload)
        elif service == "sqs":
            url = clients.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])
            params = {"QueueUrl": url["QueueUrl"], "MessageBody": payload}
            if group := (target.get("SqsParameters") or {}).get("MessageGroupId"):
                params["MessageGroupId"] = group
            clients.sqs.send_message(**params)
        elif service == "sns":
            clients.sns.publish(TopicArn=arn, Message=payload)
        else:
            raise NotImplementedError(f"target {arn} is not supported by the local cloud")

    def _record(self, schedule_arn: str, target_arn: str, error: str | None) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        with self._stats_lock:
            stats = self._stats.setdefault(
                schedule_arn,
                {"target": target_arn, "fired": 0, "failed": 0, "lastFiredAt": None},
            )
            stats["target"] = target_arn
            if error:
                stats["failed"] += 1
                stats["lastError"] = error
            else:
                stats["fired"] += 1
            stats["lastFiredAt"] = now
            count = stats["fired"]
        if error:
            LOG.warning("Schedule %s -> %s failed: %s", schedule_arn, target_arn, error)
        else:
            LOG.info("Schedule %s fired -> %s (#%d)", schedule_arn, target_arn, count)
        self._write_stats()

    def snapshot(self) -> dict[str, Any]:
        with self._stats_lock:
            schedules = {arn: dict(stats) for arn, stats in self._stats.items()}
        return {
            "clockSpeed": self.clock.speed,
            "startedAt": dt.datetime.fromtimestamp(self._started, tz=dt.UTC).isoformat(),
            "totalFired": sum(s["fired"] for s in schedules.values()),
            "totalFailed": sum(s["failed"] for s in schedules.values()),
            "schedules": schedules,
        }

    def _write_stats(self) -> None:
        if self.state_file is None:
            return
        try:
            tmp = self.state_file.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(self.snapshot(), indent=2))
            tmp.replace(self.state_file)
        except OSError as exc:
            LOG.debug("could not write %s: %s", self.state_file, exc)
