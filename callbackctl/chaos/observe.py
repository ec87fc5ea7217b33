"""What the scenarios count: records, jobs, and the callbacks each task token accepted."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from callbackctl.deployment import StackInfo, Target
from callbackctl.deployment.tables import get_item, plain, scan_items
from callbackctl.errors import CommandFailed
from common.records import TABLE_KEY, Attr

FINAL_SENDS = ("SendTaskSuccess", "SendTaskFailure")
Expected = tuple[str, str | None]  # (execution status, error)


def token_fingerprint(token: str) -> str:
    """As lambda_src/common/log.py and the local cloud's counters name a token."""
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()[:12]


def idempotency_key(execution_arn: str, redrive_count: int = 0) -> str:
    """As create_job keys an execution's job (lambda_src/create_job/handler.py)."""
    return hashlib.sha256(f"{execution_arn}#{redrive_count}".encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Observer:
    target: Target
    info: StackInfo

    def end(self, arn: str) -> Expected:
        described = self.target.client("stepfunctions").describe_execution(executionArn=arn)
        return str(described["status"]), described.get("error")

    def duration(self, arn: str) -> float:
        described = self.target.client("stepfunctions").describe_execution(executionArn=arn)
        stop = described.get("stopDate")
        return (stop - described["startDate"]).total_seconds() if stop else float("inf")

    def task_attempts(self, arn: str) -> int:
        events = self.target.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)
        return sum(event["type"] == "TaskScheduled" for event in events["events"])

    def records_by_execution(self) -> dict[str, dict[str, Any]]:
        items = scan_items(self.target, self.info.task_tokens_table)
        return {str(r[Attr.EXECUTION_ARN]): r for r in map(plain, items)}

    def wait_for_records(self, arns: list[str], timeout: float = 120) -> dict[str, str]:
        """execution ARN -> job id, once create_job stored every record."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records_by_execution()
            if all(arn in records for arn in arns):
                return {arn: str(records[arn][TABLE_KEY]) for arn in arns}
            if time.monotonic() > deadline:
                raise CommandFailed(f"create_job stored {sum(a in records for a in arns)}/{len(arns)} records")
            time.sleep(1)

    def record(self, job_id: str) -> dict[str, Any]:
        return plain(get_item(self.target, self.info.task_tokens_table, {TABLE_KEY: {"S": job_id}}) or {})

    def job(self, job_id: str) -> dict[str, Any]:
        return plain(get_item(self.target, self.info.jobs_table, {"jobId": {"S": job_id}}) or {})

    def job_ids(self) -> set[str]:
        items = scan_items(self.target, self.info.jobs_table, projection="jobId")
        return {item["jobId"]["S"] for item in items}

    def duplicate_jobs(self, arns: list[str], new_jobs: Iterable[str]) -> int:
        """Jobs started beyond one per execution: a second job under an execution's key, or a
        job under a key no execution of the scenario has (a retry that lost its key)."""
        keys = Counter(self.job(job).get("idempotencyKey") for job in new_jobs)
        ours = {idempotency_key(arn) for arn in arns}
        return sum(count - 1 if key in ours else count for key, count in keys.items() if key is not None)

    def duplicate_sends(self, arns: list[str]) -> int | None:
        """Jobs whose token accepted more than one final callback (local cloud only: None elsewhere)."""
        counters = self._callback_counters()
        if counters is None:
            return None
        records = self.records_by_execution()
        fingerprints = {token_fingerprint(str(records[a][Attr.TASK_TOKEN])) for a in arns if a in records}
        accepted: Counter[str] = Counter()
        for row in counters:
            if row.get("operation") in FINAL_SENDS and row.get("token") in fingerprints:
                accepted[row["token"]] += int(row.get("accepted", 0))
        return sum(1 for count in accepted.values() if count > 1)

    def _callback_counters(self) -> list[dict[str, Any]] | None:
        if self.target.name != "localcloud" or not self.target.endpoint_url:
            return None
        with urllib.request.urlopen(f"{self.target.endpoint_url}/_localcloud/counters", timeout=10) as response:
            return list(json.loads(response.read()).get("callbacks", []))
