"""The task-token table: one record per waiting execution, found by the poller through a GSI."""

from __future__ import annotations

from typing import Final

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from stacks.config import StageConfig

PENDING_INDEX_NAME: Final = "ByStatus"
TTL_ATTRIBUTE: Final = "expiresAt"


def standard_table(
    scope: Construct,
    construct_id: str,
    *,
    config: StageConfig,
    partition_key: str,
    time_to_live_attribute: str | None = None,
) -> dynamodb.Table:
    """An on-demand, encrypted table with point-in-time recovery and a generated name."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=time_to_live_attribute,
        removal_policy=config.removal_policy,
    )


class JobStore(Construct):
    """The task-token table (key `jobId`) and its `ByStatus` index (`status`, `createdAt`)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.table = standard_table(
            self,
            "TaskTokensTable",
            config=config,
            partition_key="jobId",
            time_to_live_attribute=TTL_ATTRIBUTE,
        )
        self.table.add_global_secondary_index(
            index_name=PENDING_INDEX_NAME,
            partition_key=dynamodb.Attribute(name="status", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="createdAt", type=dynamodb.AttributeType.STRING),
            # Keys only: the index never holds the (up to 2 KB) task token, so updates that do not
            # change the status cost no index writes; the claim returns the full record.
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
        self.pending_index_name = PENDING_INDEX_NAME
