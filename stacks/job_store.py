"""The job tables: the task-token table (one record per job, written when it starts and when it
ends) and the poll-state table (one small item per pending job, found by the poller through a GSI
of due jobs, written on every poll). See lambda_src/common/records.py."""

from __future__ import annotations

from typing import Final

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from common import records
from stacks.checkov import skip_check
from stacks.config import StageConfig

# The names the handlers use: one home, lambda_src/common/records.py.
DUE_INDEX_NAME: Final = records.DUE_INDEX
DUE_SHARD_ATTRIBUTE: Final = records.DUE_SHARD
DUE_AT_ATTRIBUTE: Final = records.DUE_AT
# Projected into the index: the poller decides from them what a claim writes.
DUE_INDEX_PROJECTION: Final = (records.HEARTBEAT_AT, records.INTERVAL)
TTL_ATTRIBUTE: Final = records.TTL_ATTRIBUTE


def standard_table(
    scope: Construct,
    construct_id: str,
    *,
    config: StageConfig,
    partition_key: str,
    time_to_live_attribute: str | None = None,
    encryption_key: kms.IKey | None = None,
) -> dynamodb.Table:
    """An on-demand, encrypted table with point-in-time recovery and a generated name; encrypted
    with `encryption_key` if given, else with the account's AWS-managed DynamoDB key."""
    encryption = dynamodb.TableEncryption.AWS_MANAGED
    if encryption_key is not None:
        encryption = dynamodb.TableEncryption.CUSTOMER_MANAGED
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=encryption,
        encryption_key=encryption_key,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=time_to_live_attribute,
        removal_policy=config.removal_policy,
    )


class JobStore(Construct):
    """The task-token table (key `jobId`), and the poll-state table (key `jobId`) with its `ByDue`
    index (`dueShard`, `dueAt`).

    A job's poll state exists only while it is pending, and shard leases carry no `dueShard`, so
    the index holds the jobs the poller still has to work, and a Query for `dueAt <= now` in one
    shard reads only the jobs of that shard that are due. Keeping the token apart keeps the
    write of every poll small: DynamoDB bills a write by the size of the whole item, and a task
    token alone may be 2 KB.

    Its records hold task tokens: whoever holds one and may call `states:SendTask*` can resume
    the execution. With the stage's `task_tokens_encryption` CUSTOMER_MANAGED the table is
    encrypted with a key of its own (`self.key`, else None), rotated yearly and removed only with
    the table (the stage's removal policy), so its key policy and CloudTrail decide and record who
    reads tokens. `grant_table_actions` also grants the use of the key.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.key: kms.Key | None = None
        if config.task_tokens_encryption == dynamodb.TableEncryption.CUSTOMER_MANAGED:
            self.key = kms.Key(
                self,
                "TaskTokensKey",
                description="Encrypts the task-token table of the Step Functions callback pattern",
                enable_key_rotation=True,
                removal_policy=config.removal_policy,
            )
        self.table = standard_table(
            self,
            "TaskTokensTable",
            config=config,
            partition_key=records.TABLE_KEY,
            time_to_live_attribute=TTL_ATTRIBUTE,
            encryption_key=self.key,
        )
        if self.key is None:
            skip_check(
                self.table,
                "CKV_AWS_119",
                "Encrypted with the account's AWS-managed key (aws/dynamodb) because the stage's "
                "taskTokensEncryption says so (the local stage); the aws stage uses a customer-managed key.",
            )
        # No token in here: the account's AWS-managed key is enough (CKV_AWS_119 justified below).
        self.poll_table = standard_table(
            self,
            "PollStateTable",
            config=config,
            partition_key=records.TABLE_KEY,
            time_to_live_attribute=TTL_ATTRIBUTE,
        )
        skip_check(
            self.poll_table,
            "CKV_AWS_119",
            "Holds poll times, attempt counts and shard leases, never a task token (those are in the "
            "task-token table, which the aws stage encrypts with a customer-managed key).",
        )
        self.poll_table.add_global_secondary_index(
            index_name=DUE_INDEX_NAME,
            partition_key=dynamodb.Attribute(name=DUE_SHARD_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=DUE_AT_ATTRIBUTE, type=dynamodb.AttributeType.NUMBER),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(DUE_INDEX_PROJECTION),
        )
        self.due_index_name = DUE_INDEX_NAME
