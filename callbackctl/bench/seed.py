"""Pending and finished jobs put straight into the tables, for timing the poller.

The token records have the shape create_job writes (see docs/design.md, "Task-token table"), with a
fake task token: Step Functions answers InvalidToken and the poller marks each job EXPIRED, after the
same claim, status check and send as for a real job.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from callbackctl.deployment.cdk import LOCAL_ACCOUNT

Item = dict[str, Any]


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def pending_items(count: int, now: datetime) -> tuple[list[Item], list[Item]]:
    """``count`` POLLING token records, due now, and their IN_PROGRESS jobs (low-level DynamoDB items)."""
    tokens, jobs = [], []
    stamp = _stamp(now.replace(microsecond=0))
    expires = str(int((now + timedelta(days=1)).timestamp()))
    for index in range(count):
        job_id = f"bench-{uuid.uuid4()}"
        tokens.append(
            {
                "jobId": {"S": job_id},
                "taskToken": {"S": f"bench-fake-token-{uuid.uuid4()}"},
                "executionArn": {"S": f"arn:aws:states:us-east-1:{LOCAL_ACCOUNT}:execution:bench:{job_id}"},
                "status": {"S": "POLLING"},
                "attemptCount": {"N": "0"},
                "maxAttempts": {"N": "10"},
                "createdAt": {"S": _stamp(now + timedelta(microseconds=index))},
                "updatedAt": {"S": stamp},
                "expiresAt": {"N": expires},
                "inputBytes": {"N": "2"},
                # The sparse due index (lambda_src/common/records.py): pending and due now.
                "dueShard": {"S": "0"},
                "dueAt": {"N": str(int(now.timestamp() * 1000))},
            }
        )
        jobs.append(
            {
                "jobId": {"S": job_id},
                "status": {"S": "IN_PROGRESS"},
                "outcome": {"S": "SUCCEED"},
                "pollCount": {"N": "0"},
                "completionPolls": {"N": "100"},
                "payload": {"M": {}},
                "createdAt": {"S": stamp},
                "updatedAt": {"S": stamp},
            }
        )
    return tokens, jobs


def finished_items(count: int, now: datetime) -> list[Item]:
    """``count`` COMPLETED token records, an hour old (what a busy table accumulates)."""
    tokens, _ = pending_items(count, now - timedelta(hours=1))
    for item in tokens:
        item["status"] = {"S": "COMPLETED"}
        item["finalDetail"] = {"S": ""}
    return tokens
