"""The three DynamoDB tables: keys, the due-jobs index, TTL, billing, encryption, recovery."""

from __future__ import annotations

from typing import Any

from .template_helpers import resources

# Changing a table's logical ID replaces the table and loses its data: pin them.
TASK_TOKENS_TABLE = "JobStoreTaskTokensTable92503B56"
POLL_STATE_TABLE = "JobStorePollStateTable1B03F05B"
JOBS_TABLE = "SimulatedApiJobsTableF1EEC1F7"
TABLES = (TASK_TOKENS_TABLE, POLL_STATE_TABLE, JOBS_TABLE)


def test_table_logical_ids_are_pinned(template_json: dict[str, Any]) -> None:
    assert set(resources(template_json, "AWS::DynamoDB::Table")) == set(TABLES)


def test_every_table_is_on_demand_encrypted_recoverable_and_unnamed(template_json: dict[str, Any]) -> None:
    for logical_id in TABLES:
        properties = template_json["Resources"][logical_id]["Properties"]
        assert properties["KeySchema"] == [{"AttributeName": "jobId", "KeyType": "HASH"}], logical_id
        assert properties["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert properties["SSESpecification"] == {"SSEEnabled": True}, logical_id
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, logical_id
        assert "TableName" not in properties, logical_id


def test_local_stage_tables_are_deleted_with_the_stack(template_json: dict[str, Any]) -> None:
    for logical_id in TABLES:
        table = template_json["Resources"][logical_id]
        assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Delete", "Delete"), logical_id


def test_job_records_expire_through_ttl(template_json: dict[str, Any]) -> None:
    for logical_id in (TASK_TOKENS_TABLE, POLL_STATE_TABLE):
        properties = template_json["Resources"][logical_id]["Properties"]
        assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}, logical_id


def test_the_task_tokens_table_has_no_index(template_json: dict[str, Any]) -> None:
    # The token (up to 2 KB) is written when a job starts and ends, never on a poll, and never
    # copied into an index: the poller finds due jobs in the poll-state table.
    properties = template_json["Resources"][TASK_TOKENS_TABLE]["Properties"]
    assert "GlobalSecondaryIndexes" not in properties
    assert "LocalSecondaryIndexes" not in properties
    assert properties["AttributeDefinitions"] == [{"AttributeName": "jobId", "AttributeType": "S"}]


def test_due_jobs_index_is_by_shard_then_due_time_with_the_claims_inputs(template_json: dict[str, Any]) -> None:
    # Only pending poll states carry dueShard (shard leases do not), so the index lists the jobs
    # still to poll; it projects what a claim needs (last heartbeat, current interval) and no more.
    properties = template_json["Resources"][POLL_STATE_TABLE]["Properties"]
    assert properties["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "ByDue",
            "KeySchema": [
                {"AttributeName": "dueShard", "KeyType": "HASH"},
                {"AttributeName": "dueAt", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["heartbeatAt", "intervalMs"]},
        }
    ]
    assert "LocalSecondaryIndexes" not in properties
    assert sorted(properties["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "dueAt", "AttributeType": "N"},
        {"AttributeName": "dueShard", "AttributeType": "S"},
        {"AttributeName": "jobId", "AttributeType": "S"},
    ]


def test_the_index_attributes_are_the_ones_the_handlers_write() -> None:
    from common import records
    from stacks import job_store

    assert (job_store.DUE_INDEX_NAME, job_store.DUE_SHARD_ATTRIBUTE, job_store.DUE_AT_ATTRIBUTE) == (
        records.DUE_INDEX,
        records.DUE_SHARD,
        records.DUE_AT,
    )
    assert job_store.DUE_INDEX_PROJECTION == (records.HEARTBEAT_AT, records.INTERVAL)
    assert job_store.TTL_ATTRIBUTE == records.TTL_ATTRIBUTE


def test_jobs_table_has_no_index_or_ttl(template_json: dict[str, Any]) -> None:
    properties = template_json["Resources"][JOBS_TABLE]["Properties"]
    assert "GlobalSecondaryIndexes" not in properties
    assert "TimeToLiveSpecification" not in properties
