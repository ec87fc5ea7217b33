"""DynamoDB tables of a deployment: read them whole, fill them, empty them, find the waiting jobs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from callbackctl.deployment.targets import Target
from common import records

Progress = Callable[[int], None]  # called with how many more items are done
BATCH_WRITE = 25  # BatchWriteItem's limit
BATCH_GET = 100  # BatchGetItem's limit
_deserializer = TypeDeserializer()
_serializer = TypeSerializer()


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A low-level item ({"S": ...}) as Python values; whole numbers become int."""
    out = {}
    for key, value in item.items():
        python = _deserializer.deserialize(value)
        out[key] = (
            int(python) if hasattr(python, "to_integral_value") and python == python.to_integral_value() else python
        )
    return out


def low_level(item: Mapping[str, Any]) -> dict[str, Any]:
    """Python values (a record of lambda_src/common/records.py) as a low-level item ({"S": ...})."""
    return {key: _serializer.serialize(value) for key, value in item.items()}


def scan_items(
    target: Target,
    table: str,
    *,
    projection: str | None = None,
    names: dict[str, str] | None = None,
    consistent: bool = False,
) -> list[dict[str, Any]]:
    """Every item of a table (low-level form). For people and benchmarks: the poller never scans."""
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": consistent}
    if projection:
        kwargs["ProjectionExpression"] = projection
    if names:
        kwargs["ExpressionAttributeNames"] = names
    pages = target.client("dynamodb").get_paginator("scan").paginate(**kwargs)
    return [item for page in pages for item in page["Items"]]


def _batch_write(target: Target, table: str, requests: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {table: requests}
    client = target.client("dynamodb")
    while pending:
        pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _in_batches(
    target: Target, table: str, requests: list[dict[str, Any]], workers: int, progress: Progress | None
) -> None:
    def write(chunk: list[dict[str, Any]]) -> None:
        _batch_write(target, table, chunk)
        if progress:
            progress(len(chunk))

    chunks = [requests[i : i + BATCH_WRITE] for i in range(0, len(requests), BATCH_WRITE)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(write, chunks))


def put_items(
    target: Target, table: str, items: Sequence[dict[str, Any]], *, workers: int = 4, progress: Progress | None = None
) -> None:
    """Write items (low-level form) in parallel batches."""
    _in_batches(target, table, [{"PutRequest": {"Item": item}} for item in items], workers, progress)


def table_keys(target: Target, table: str, key: str = "jobId") -> list[dict[str, Any]]:
    return scan_items(target, table, projection=key)


def delete_keys(
    target: Target, table: str, keys: Sequence[dict[str, Any]], *, workers: int = 4, progress: Progress | None = None
) -> int:
    """Delete items by key in parallel batches; return how many."""
    _in_batches(target, table, [{"DeleteRequest": {"Key": key}} for key in keys], workers, progress)
    return len(keys)


def empty_table(target: Target, table: str, *, workers: int = 4, progress: Progress | None = None) -> int:
    """Delete every item (keys from a scan, batch deletes in parallel); return how many."""
    return delete_keys(target, table, table_keys(target, table), workers=workers, progress=progress)


def polling_keys(
    target: Target, table: str, index: str = records.DUE_INDEX, shards: Sequence[str] = ("0",)
) -> list[dict[str, Any]]:
    """The keys of every job still pending (POLLING or SENDING): the poll-state table's due index
    holds exactly those, shard by shard (lambda_src/common/records.py)."""
    client = target.client("dynamodb")
    keys: list[dict[str, Any]] = []
    for shard in shards:
        pages = client.get_paginator("query").paginate(
            TableName=table,
            IndexName=index,
            KeyConditionExpression="#shard = :shard",
            ExpressionAttributeNames={"#shard": records.DUE_SHARD},
            ExpressionAttributeValues={":shard": {"S": shard}},
        )
        keys += [{records.TABLE_KEY: item[records.TABLE_KEY]} for page in pages for item in page["Items"]]
    return keys


def waiting_executions(
    target: Target, table: str, keys: Sequence[dict[str, Any]], *, progress: Progress | None = None
) -> list[tuple[str, str]]:
    """(task token, execution ARN) of the token records with these keys.

    The due index holds keys only, so the records come from BatchGetItem, a hundred at a time.
    """
    client = target.client("dynamodb")
    token, arn = records.Attr.TASK_TOKEN, records.Attr.EXECUTION_ARN
    waiting = []
    for start in range(0, len(keys), BATCH_GET):
        chunk = list(keys[start : start + BATCH_GET])
        request: dict[str, Any] = {table: {"Keys": chunk}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table, []):
                if token in item and arn in item:
                    waiting.append((item[token]["S"], item[arn]["S"]))
            request = answer.get("UnprocessedKeys") or {}
        if progress:
            progress(len(chunk))
    return waiting


def get_item(target: Target, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    answer = target.client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True)
    item: dict[str, Any] | None = answer.get("Item")
    return item
