"""The two DynamoDB tables: keys, the pending-jobs index, TTL, billing, encryption, recovery."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from .template_helpers import resources

# Changing a table's logical ID replaces the table and loses its data: pin them.
TASK_TOKENS_TABLE = "JobStoreTaskTokensTable92503B56"
JOBS_TABLE = "SimulatedApiJobsTableF1EEC1F7"


def test_table_logical_ids_are_pinned(template_json: dict[str, Any]) -> None:
    assert set(resources(template_json, "AWS::DynamoDB::Table")) == {TASK_TOKENS_TABLE, JOBS_TABLE}


def test_both_tables_are_on_demand_encrypted_recoverable_and_unnamed(
    template_json: dict[str, Any],
) -> None:
    for logical_id in (TASK_TOKENS_TABLE, JOBS_TABLE):
        properties = template_json["Resources"][logical_id]["Properties"]
        assert properties["KeySchema"] == [{"AttributeName": "jobId", "KeyType": "HASH"}]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["SSESpecification"] == {"SSEEnabled": True}
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert "TableName" not in properties


def test_local_stage_tables_are_deleted_with_the_stack(template_json: dict[str, Any]) -> None:
    for logical_id in (TASK_TOKENS_TABLE, JOBS_TABLE):
        table = template_json["Resources"][logical_id]
        assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Delete", "Delete")


def test_task_tokens_expire_through_ttl(template: Any) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "jobId", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
            "GlobalSecondaryIndexes": Match.any_value(),
        },
    )


def test_due_jobs_index_is_sparse_by_shard_then_due_time(template_json: dict[str, Any]) -> None:
    # Only pending records carry dueShard/dueAt, so a Query for "due now" never reads a finished
    # record or one still under claim; keys only, so the task token never enters the index.
    properties = template_json["Resources"][TASK_TOKENS_TABLE]["Properties"]
    assert properties["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "ByDue",
            "KeySchema": [
                {"AttributeName": "dueShard", "KeyType": "HASH"},
                {"AttributeName": "dueAt", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]
    assert {"AttributeName": "dueShard", "AttributeType": "S"} in properties["AttributeDefinitions"]
    assert {"AttributeName": "dueAt", "AttributeType": "N"} in properties["AttributeDefinitions"]


def test_jobs_table_has_no_index_or_ttl(template_json: dict[str, Any]) -> None:
    properties = template_json["Resources"][JOBS_TABLE]["Properties"]
    assert "GlobalSecondaryIndexes" not in properties
    assert "TimeToLiveSpecification" not in properties
