"""The two job tables as the poller sees them (common/records.py): find due jobs, claim one (a single
small write that also sets its next poll), read its token when it needs one, store a decision and
finish it. A claim is the lease: it moves the job's due time past the work. The decision and the
final status are transactions conditional on the claim (the poll state) and on the token the
poller holds (the token record), so a lapsed claim or a token replaced by a retried task is never
overwritten.

Uses the low-level DynamoDB client, which (unlike boto3 resources) is safe to share across threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from common.records import (
    DUE_AT,
    DUE_SHARD,
    HEARTBEAT_AT,
    INTERVAL,
    POLLING,
    SENDING,
    SHARD_LEASE_PREFIX,
    SHARD_LEASE_UNTIL,
    TABLE_KEY,
    Attr,
    PollState,
    StoredDecision,
    TokenRecord,
    normalise,
)

_ser = TypeSerializer()
_de = TypeDeserializer()


def _to_plain(item: dict[str, Any]) -> Any:
    return normalise({k: _de.deserialize(v) for k, v in item.items()})


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in values.items()}


# Every write after a claim holds only while the claim does.
_CLAIMED = f"{Attr.CLAIM_OWNER} = :owner"


def _key(job_id: str) -> dict[str, Any]:
    return _values({TABLE_KEY: job_id})


@dataclass(frozen=True)
class DueJob:
    """A due job as the index lists it: its id, due time, last heartbeat (epoch ms) and current
    interval between polls (ms)."""

    job_id: str
    due_ms: int
    heartbeat_ms: int
    interval_ms: int


@dataclass(frozen=True, kw_only=True)
class JobTables:
    client: Any  # boto3 DynamoDB client
    tokens_table: str
    poll_table: str
    due_index: str

    def due(self, *, shard: str, now_ms: int, page_size: int = 500) -> Iterator[DueJob]:
        """The shard's jobs due by now_ms, most overdue first, page by page as they are consumed.

        A Query of the ByDue index, which holds only pending jobs and their next poll time: a run
        reads the jobs that are due, never every pending one.
        """
        kwargs: dict[str, Any] = {
            "TableName": self.poll_table,
            "IndexName": self.due_index,
            "KeyConditionExpression": "#shard = :shard AND #due <= :now",
            "ExpressionAttributeNames": {"#shard": DUE_SHARD, "#due": DUE_AT},
            "ExpressionAttributeValues": _values({":shard": shard, ":now": now_ms}),
            "Limit": page_size,
        }
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                yield DueJob(
                    item[TABLE_KEY]["S"],
                    int(item[DUE_AT]["N"]),
                    int(item[HEARTBEAT_AT]["N"]) if HEARTBEAT_AT in item else 0,
                    int(item[INTERVAL]["N"]) if INTERVAL in item else 0,
                )
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A job's two records as one view (token record, and poll state while pending), for
        `callbackctl poll` and the tests; None if the job has no token record."""
        record = self.token_record(job_id)
        if record is None:
            return None
        state = self.poll_state(job_id) or {}
        return {**state, **record}

    def token_record(self, job_id: str) -> TokenRecord | None:
        item = self.client.get_item(TableName=self.tokens_table, Key=_key(job_id), ConsistentRead=True)
        return _to_plain(item["Item"]) if "Item" in item else None

    def poll_state(self, job_id: str) -> PollState | None:
        item = self.client.get_item(TableName=self.poll_table, Key=_key(job_id), ConsistentRead=True)
        return _to_plain(item["Item"]) if "Item" in item else None

    def claim(
        self,
        job_id: str,
        *,
        owner: str,
        now_ms: int,
        next_due_ms: int,
        interval_ms: int | None,
        heartbeat: bool,
        due_only: bool = True,
    ) -> PollState | None:
        """Take a due job until next_due_ms (its next poll), count the attempt and, if `heartbeat`,
        record a heartbeat sent now; None if it is gone or another run holds it.

        One write of the small poll-state item: for a job that keeps running it is the only one.
        due_only=False (a job polled by hand) also takes a job that is not due yet, unless its
        final decision is being sent.
        """
        condition = f"attribute_exists({DUE_SHARD}) AND " + (
            "#due <= :now" if due_only else f"(#due <= :now OR attribute_not_exists({Attr.SENDING}))"
        )
        update = f"SET {Attr.CLAIM_OWNER} = :owner, #due = :next"
        values: dict[str, Any] = {":owner": owner, ":next": next_due_ms, ":now": now_ms, ":one": 1}
        if interval_ms is not None:
            update += f", {INTERVAL} = :interval"
            values[":interval"] = interval_ms
        if heartbeat:
            update += ", #hb = :now"
        try:
            response = self.client.update_item(
                TableName=self.poll_table,
                Key=_key(job_id),
                UpdateExpression=update + f" ADD {Attr.ATTEMPT_COUNT} :one",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#due": DUE_AT, **({"#hb": HEARTBEAT_AT} if heartbeat else {})},
                ExpressionAttributeValues=_values(values),
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        state: PollState = _to_plain(response["Attributes"])
        return state

    def release(
        self,
        job_id: str,
        *,
        owner: str,
        due_ms: int,
        refund_attempt: bool = False,
        heartbeat_ms: int | None = None,
    ) -> bool:
        """Give a job back after a step failed, due again at due_ms. refund_attempt: the status
        check got no answer, so the poll does not count; heartbeat_ms: the heartbeat the claim
        recorded did not go out, so put back the last one that did. False if the claim was lost."""
        update = "SET #due = :due"
        names = {"#due": DUE_AT}
        values: dict[str, Any] = {":due": due_ms, ":owner": owner}
        if heartbeat_ms is not None:
            update += ", #hb = :hb"
            names["#hb"] = HEARTBEAT_AT
            values[":hb"] = heartbeat_ms
        if refund_attempt:
            update += f" ADD {Attr.ATTEMPT_COUNT} :minus"
            values[":minus"] = -1
        try:
            self.client.update_item(
                TableName=self.poll_table,
                Key=_key(job_id),
                UpdateExpression=update,
                ConditionExpression=_CLAIMED,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_values(values),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def store_decision(
        self, record: TokenRecord, *, owner: str, decision: StoredDecision, updated_at: str, lease_until_ms: int
    ) -> bool:
        """Write the final decision before sending it (token record SENDING), and hold the job
        until lease_until_ms: whoever finds it next, after a crash, a lost reply or a failed write,
        sends the same decision again. One transaction, conditional on the claim and the token."""
        return self._transact(
            [
                {
                    "Update": {
                        "TableName": self.poll_table,
                        "Key": _key(record["jobId"]),
                        "UpdateExpression": f"SET #due = :until, {Attr.SENDING} = :true",
                        "ConditionExpression": _CLAIMED,
                        "ExpressionAttributeNames": {"#due": DUE_AT},
                        "ExpressionAttributeValues": _values(
                            {":until": lease_until_ms, ":true": True, ":owner": owner}
                        ),
                    }
                },
                {
                    "Update": {
                        "TableName": self.tokens_table,
                        "Key": _key(record["jobId"]),
                        "UpdateExpression": f"SET #s = :sending, {Attr.DECISION} = :decision, {Attr.UPDATED_AT} = :at",
                        "ConditionExpression": f"{Attr.TASK_TOKEN} = :token AND #s = :polling",
                        "ExpressionAttributeNames": {"#s": Attr.STATUS},
                        "ExpressionAttributeValues": _values(
                            {
                                ":sending": SENDING,
                                ":decision": decision,
                                ":at": updated_at,
                                ":token": record["taskToken"],
                                ":polling": POLLING,
                            }
                        ),
                    }
                },
            ]
        )

    def finish(
        self, record: TokenRecord, *, owner: str, status: str, updated_at: str, detail: str, attempts: int
    ) -> bool:
        """Record the final status (finalDetail: the error sent, or how the execution ended) and
        the attempts it took, and delete the poll state: the job leaves the index and the stored
        decision (with its output) is dropped. One transaction, conditional on the claim and the token."""
        return self._transact(
            [
                {
                    "Delete": {
                        "TableName": self.poll_table,
                        "Key": _key(record["jobId"]),
                        "ConditionExpression": _CLAIMED,
                        "ExpressionAttributeValues": _values({":owner": owner}),
                    }
                },
                {
                    "Update": {
                        "TableName": self.tokens_table,
                        "Key": _key(record["jobId"]),
                        "UpdateExpression": (
                            f"SET #s = :final, {Attr.UPDATED_AT} = :at, {Attr.FINAL_DETAIL} = :detail, "
                            f"{Attr.ATTEMPT_COUNT} = :attempts REMOVE {Attr.DECISION}"
                        ),
                        "ConditionExpression": f"{Attr.TASK_TOKEN} = :token",
                        "ExpressionAttributeNames": {"#s": Attr.STATUS},
                        "ExpressionAttributeValues": _values(
                            {
                                ":final": status,
                                ":at": updated_at,
                                ":detail": detail,
                                ":attempts": attempts,
                                ":token": record["taskToken"],
                            }
                        ),
                    }
                },
            ]
        )

    def forget(self, job_id: str, *, owner: str) -> bool:
        """Delete the poll state of a job whose token record is already final (a finish whose
        delete was lost, or a record gone): the job leaves the index."""
        try:
            self.client.delete_item(
                TableName=self.poll_table,
                Key=_key(job_id),
                ConditionExpression=_CLAIMED,
                ExpressionAttributeValues=_values({":owner": owner}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def lease_shard(self, shard: str, *, owner: str, now_ms: int, until_ms: int) -> bool:
        """Take the shard for one run: at most one run works a shard at a time. A run that dies
        keeps it until until_ms (its function's timeout)."""
        try:
            self.client.update_item(
                TableName=self.poll_table,
                Key=_key(SHARD_LEASE_PREFIX + shard),
                UpdateExpression=f"SET {Attr.CLAIM_OWNER} = :owner, {SHARD_LEASE_UNTIL} = :until",
                ConditionExpression=f"attribute_not_exists({SHARD_LEASE_UNTIL}) OR {SHARD_LEASE_UNTIL} <= :now",
                ExpressionAttributeValues=_values({":owner": owner, ":until": until_ms, ":now": now_ms}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_shard(self, shard: str, *, owner: str) -> None:
        # If the condition fails, the lease lapsed and another run holds the shard now.
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.update_item(
                TableName=self.poll_table,
                Key=_key(SHARD_LEASE_PREFIX + shard),
                UpdateExpression=f"REMOVE {SHARD_LEASE_UNTIL}",
                ConditionExpression=_CLAIMED,
                ExpressionAttributeValues=_values({":owner": owner}),
            )

    def _transact(self, items: list[dict[str, Any]]) -> bool:
        try:
            self.client.transact_write_items(TransactItems=items)
        except self.client.exceptions.TransactionCanceledException as err:
            reasons = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                return False
            raise
        return True
