"""The task-token table as the poller sees it: find pending jobs, claim one, release or finish it.

Uses the low-level DynamoDB client, which (unlike boto3 resources) is safe to share across threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_ser = TypeSerializer()
_de = TypeDeserializer()

PENDING = "POLLING"


class TokenRecord(TypedDict, total=False):
    jobId: str
    taskToken: str
    executionArn: str
    status: str
    attemptCount: int
    maxAttempts: int
    createdAt: str
    updatedAt: str
    expiresAt: int
    claimOwner: str
    claimUntil: int


def _to_record(item: dict[str, Any]) -> TokenRecord:
    plain = {k: _de.deserialize(v) for k, v in item.items()}
    for key in ("attemptCount", "maxAttempts", "expiresAt", "claimUntil"):
        if key in plain:
            plain[key] = int(plain[key])
    return cast(TokenRecord, plain)


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in values.items()}


@dataclass(frozen=True, kw_only=True)
class TokenStore:
    client: Any  # boto3 DynamoDB client
    table_name: str
    pending_index: str

    def pending(self, page_size: int = 500) -> Iterator[TokenRecord]:
        """Every record still POLLING, oldest first, from the status index (a Query, never a Scan)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": self.pending_index,
            "KeyConditionExpression": "#s = :pending",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": _values({":pending": PENDING}),
            "Limit": page_size,
        }
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                yield _to_record(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, job_id: str) -> TokenRecord | None:
        item = self.client.get_item(TableName=self.table_name, Key=_values({"jobId": job_id}), ConsistentRead=True)
        return _to_record(item["Item"]) if "Item" in item else None

    def claim(self, job_id: str, *, owner: str, now: int, claim_seconds: int, updated_at: str) -> TokenRecord | None:
        """Take the job for this poll and count the attempt, unless it is final or claimed by a live poller."""
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=_values({"jobId": job_id}),
                UpdateExpression="SET claimOwner = :owner, claimUntil = :until, updatedAt = :at ADD attemptCount :one",
                ConditionExpression="#s = :pending AND (attribute_not_exists(claimUntil) OR claimUntil < :now)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=_values(
                    {
                        ":owner": owner,
                        ":until": now + claim_seconds,
                        ":at": updated_at,
                        ":one": 1,
                        ":pending": PENDING,
                        ":now": now,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return _to_record(response["Attributes"])

    def release(self, job_id: str, *, owner: str, updated_at: str) -> bool:
        """Give the claim back so the next run polls the job again. False if the claim was no longer ours."""
        return self._conditional(
            job_id,
            owner=owner,
            update="SET updatedAt = :at REMOVE claimOwner, claimUntil",
            values={":at": updated_at},
        )

    def finish(self, job_id: str, *, owner: str, status: str, updated_at: str, detail: str | None) -> bool:
        """Record the final status (after the send succeeded) and drop the claim."""
        values: dict[str, Any] = {":at": updated_at, ":final": status, ":detail": detail or ""}
        return self._conditional(
            job_id,
            owner=owner,
            update="SET #s = :final, updatedAt = :at, finalDetail = :detail REMOVE claimOwner, claimUntil",
            values=values,
        )

    def _conditional(self, job_id: str, *, owner: str, update: str, values: dict[str, Any]) -> bool:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": _values({"jobId": job_id}),
            "UpdateExpression": update,
            "ConditionExpression": "claimOwner = :owner",
            "ExpressionAttributeValues": _values({**values, ":owner": owner}),
        }
        if "#s" in update:
            kwargs["ExpressionAttributeNames"] = {"#s": "status"}
        try:
            self.client.update_item(**kwargs)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
