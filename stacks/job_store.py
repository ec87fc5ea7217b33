"""The task-token table: one record per job, found by the poller through a sparse GSI of due jobs."""

from __future__ import annotations

from typing import Final

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from stacks.config import StageConfig

# The names the handlers use (lambda_src/common/records.py); tests/infra checks that both agree.
DUE_INDEX_NAME: Final = "ByDue"
DUE_SHARD_ATTRIBUTE: Final = "dueShard"
DUE_AT_ATTRIBUTE: Final = "dueAt"
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
    """The task-token table (key `jobId`) and its `ByDue` index (`dueShard`, `dueAt`).

    Only pending records carry `dueShard`/`dueAt`, so the index is sparse: it holds the jobs the
    poller still has to work, and a Query for `dueAt <= now` reads only the jobs that are due.
    """

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
            index_name=DUE_INDEX_NAME,
            partition_key=dynamodb.Attribute(name=DUE_SHARD_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=DUE_AT_ATTRIBUTE, type=dynamodb.AttributeType.NUMBER),
            # Keys only: the index never holds the (up to 2 KB) task token; the claim returns the
            # full record.
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
        self.due_index_name = DUE_INDEX_NAME
