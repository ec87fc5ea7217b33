"""The task-token table as the poller sees it: find due jobs, claim one, then release it, store a
decision or finish it. Every write after the claim is conditional on the claim and on the token
the poller holds, so a lapsed claim or a token replaced by a retried task never gets overwritten.

Uses the low-level DynamoDB client, which (unlike boto3 resources) is safe to share across threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from common.records import DUE_AT, DUE_SHARD, POLLING, SENDING, StoredDecision, TokenRecord, normalise

_ser = TypeSerializer()
_de = TypeDeserializer()

# Every write after a claim: still ours, and still for the token we hold.
_HELD = "claimOwner = :owner AND taskToken = :token"


def _to_record(item: dict[str, Any]) -> TokenRecord:
    return normalise({k: _de.deserialize(v) for k, v in item.items()})


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in values.items()}


class DueJobId(str):
    """A due job's id that also carries its due time (epoch ms) from the index."""

    due_ms: int

    def __new__(cls, job_id: str, due_ms: int) -> DueJobId:
        value = super().__new__(cls, job_id)
        value.due_ms = due_ms
        return value


@dataclass(frozen=True, kw_only=True)
class TokenStore:
    client: Any  # boto3 DynamoDB client
    table_name: str
    due_index: str

    def due(self, *, now_ms: int, shards: tuple[str, ...] = ("0",), page_size: int = 500) -> Iterator[DueJobId]:
        """Ids of the pending jobs due by now_ms, most overdue first, page by page as they are consumed.

        A Query of the sparse ByDue index, which holds only pending records: never a Scan, never a
        finished record, never a job whose claim (lease) is still running.
        """
        for shard in shards:
            kwargs: dict[str, Any] = {
                "TableName": self.table_name,
                "IndexName": self.due_index,
                "KeyConditionExpression": "#shard = :shard AND #due <= :now",
                "ExpressionAttributeNames": {"#shard": DUE_SHARD, "#due": DUE_AT},
                "ExpressionAttributeValues": _values({":shard": shard, ":now": now_ms}),
                "Limit": page_size,
            }
            while True:
                page = self.client.query(**kwargs)
                for item in page.get("Items", []):
                    yield DueJobId(item["jobId"]["S"], int(item[DUE_AT]["N"]))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, job_id: str) -> TokenRecord | None:
        item = self.client.get_item(TableName=self.table_name, Key=_values({"jobId": job_id}), ConsistentRead=True)
        return _to_record(item["Item"]) if "Item" in item else None

    def claim(
        self, job_id: str, *, owner: str, now_ms: int, lease_ms: int, updated_at: str, due_only: bool = True
    ) -> TokenRecord | None:
        """Take a pending job for lease_ms and count the attempt; None if it is final or claimed.

        The claim moves the job's due time to the end of the lease: a poller that dies holding it
        lets it come due again by itself. due_only=False (a job polled by hand) takes a job that is
        not due yet, as long as no live claim holds it.
        """
        condition = f"attribute_exists({DUE_SHARD}) AND " + (
            "#due <= :now" if due_only else "(attribute_not_exists(claimOwner) OR #due <= :now)"
        )
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=_values({"jobId": job_id}),
                UpdateExpression="SET claimOwner = :owner, #due = :until, updatedAt = :at ADD attemptCount :one",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#due": DUE_AT},
                ExpressionAttributeValues=_values(
                    {":owner": owner, ":until": now_ms + lease_ms, ":at": updated_at, ":one": 1, ":now": now_ms}
                ),
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return _to_record(response["Attributes"])

    def release(
        self, record: TokenRecord, *, owner: str, due_ms: int, updated_at: str, refund_attempt: bool = False
    ) -> bool:
        """Give the job back, due again at due_ms. refund_attempt: the status check got no answer,
        so this poll does not count against the job's attempts. False if the claim was lost."""
        update = "SET #due = :due, updatedAt = :at REMOVE claimOwner"
        values: dict[str, Any] = {":due": due_ms, ":at": updated_at}
        if refund_attempt:
            update += " ADD attemptCount :minus"
            values[":minus"] = -1
        return self._held(record, owner=owner, update=update, values=values, names={"#due": DUE_AT})

    def store_decision(self, record: TokenRecord, *, owner: str, decision: StoredDecision, updated_at: str) -> bool:
        """Write the final decision before sending it (status SENDING): whoever finds the record
        next, after a crash, a lost reply or a failed write, sends the same decision again."""
        return self._held(
            record,
            owner=owner,
            update="SET #s = :sending, decision = :decision, updatedAt = :at",
            values={":sending": SENDING, ":decision": decision, ":at": updated_at, ":polling": POLLING},
            names={"#s": "status"},
            also="#s = :polling",
        )

    def finish(self, record: TokenRecord, *, owner: str, status: str, updated_at: str, detail: str) -> bool:
        """Record the final status (finalDetail: the error sent, or how the execution ended): the job
        leaves the due index, its claim ends, and the stored decision (with its output) is dropped."""
        return self._held(
            record,
            owner=owner,
            update="SET #s = :final, updatedAt = :at, finalDetail = :detail REMOVE claimOwner, #shard, #due, decision",
            values={":final": status, ":at": updated_at, ":detail": detail},
            names={"#s": "status", "#shard": DUE_SHARD, "#due": DUE_AT},
        )

    def _held(
        self,
        record: TokenRecord,
        *,
        owner: str,
        update: str,
        values: dict[str, Any],
        names: dict[str, str],
        also: str | None = None,
    ) -> bool:
        condition = _HELD if also is None else f"{_HELD} AND {also}"
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_values({"jobId": record["jobId"]}),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_values({**values, ":owner": owner, ":token": record["taskToken"]}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
