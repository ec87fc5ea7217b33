"""The one stack: composes the units, holds every cross-unit permission, exports what the CLI reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import StageConfig
from stacks.job_store import JobStore
from stacks.lambda_function import lambda_source
from stacks.monitoring import Monitoring
from stacks.nag import acknowledge, acknowledge_invoke_wildcard, cfn_resource, default_policy
from stacks.poller import PollerSchedule
from stacks.simulated_api import SimulatedApi
from stacks.workflow import CallbackWorkflow

LAMBDA_SRC_DIR: Final = Path(__file__).resolve().parent.parent / "lambda_src"


class CallbackStack(Stack):
    """Step Functions task-token callback pattern: workflow, job store, simulated API, poller."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        lambda_src_dir: Path = LAMBDA_SRC_DIR,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        source = lambda_source(self, lambda_src_dir)

        job_store = JobStore(self, "JobStore", config=config)
        simulated_api = SimulatedApi(self, "SimulatedApi", config=config, source=source)
        workflow = CallbackWorkflow(
            self,
            "Workflow",
            config=config,
            source=source,
            task_tokens_table=job_store.table,
            poll_table=job_store.poll_table,
            simulated_api=simulated_api.function,
        )
        poller = PollerSchedule(
            self,
            "Poller",
            config=config,
            source=source,
            task_tokens_table=job_store.table,
            poll_table=job_store.poll_table,
            due_index_name=job_store.due_index_name,
            simulated_api=simulated_api.function,
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            state_machine=workflow.state_machine,
            poller=poller.function,
            dead_letter_queue=poller.dead_letter_queue,
        )

        # Every permission between units, in one place. (Within a unit, CDK adds two itself:
        # the state machine may invoke create_job, and the schedule's role may invoke the poller
        # and send to its dead-letter queue.)
        simulated_api.table.grant_read_write_data(simulated_api.function)
        # create_job upserts one token record and one poll state (and, when its conditional token
        # write is refused, reads the record to tell a final job from a later attempt's token). The
        # poller reads due jobs from the index, claims and updates single poll states (shard leases
        # too) and deletes a finished job's; it reads and conditionally updates single token records
        # (decisions and final statuses in transactions over both). Nothing scans.
        grant_table_actions(job_store.table, workflow.create_job_function, ["dynamodb:GetItem", "dynamodb:UpdateItem"])
        grant_table_actions(job_store.poll_table, workflow.create_job_function, ["dynamodb:UpdateItem"])
        grant_table_actions(job_store.table, poller.function, ["dynamodb:GetItem", "dynamodb:UpdateItem"])
        grant_table_actions(
            job_store.poll_table, poller.function, ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
        )
        grant_table_actions(
            job_store.poll_table, poller.function, ["dynamodb:Query"], index_name=job_store.due_index_name
        )
        simulated_api.function.grant_invoke(workflow.create_job_function)
        simulated_api.function.grant_invoke(poller.function)
        workflow.state_machine.grant_task_response(poller.function)
        # Only when a token is refused: how did the execution end?
        workflow.state_machine.grant_execution(poller.function, "states:DescribeExecution")

        # The wildcards those grants carry: function versions and aliases, executions.
        for function in (workflow.create_job_function, poller.function):
            acknowledge_invoke_wildcard(
                function.role,
                simulated_api.function,
                "grant_invoke covers the simulated API's versions and aliases; the function itself is named.",
            )
            if job_store.key is not None:
                for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
                    acknowledge(
                        default_policy(function.role),
                        f"AwsSolutions-IAM5[Action::{action}]",
                        "grant_table_actions also grants the use of the task-token table's key (encrypt and "
                        "decrypt); these wildcard actions apply to that one key only.",
                    )
        state_machine_id = self.get_logical_id(cfn_resource(workflow.state_machine))
        state_machine_name = json.dumps(
            {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": state_machine_id}]}]}, separators=(",", ":")
        )
        acknowledge(
            default_policy(poller.function.role),
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            f"{state_machine_name}:*]",
            "states:DescribeExecution on this state machine's executions only (their names are not known in advance).",
        )

        # Output keys are read by callbackctl: keep them stable.
        outputs = {
            "StateMachineArn": workflow.state_machine.state_machine_arn,
            "TaskTokensTableName": job_store.table.table_name,
            "PollStateTableName": job_store.poll_table.table_name,
            "JobsTableName": simulated_api.table.table_name,
            "CreateJobFunctionName": workflow.create_job_function.function_name,
            "PollerFunctionName": poller.function.function_name,
            "SimulatedApiFunctionName": simulated_api.function.function_name,
            "PollerScheduleName": poller.schedules[0].schedule_name,  # shard 0's (kept for older tools)
            "PollerScheduleNames": Fn.join(",", [schedule.schedule_name for schedule in poller.schedules]),
            "DeadLetterQueueUrl": poller.dead_letter_queue.queue_url,
            "AlarmTopicArn": monitoring.topic.topic_arn,
        }
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)


def grant_table_actions(
    table: dynamodb.Table, grantee: iam.IGrantable, actions: list[str], *, index_name: str | None = None
) -> None:
    """Exactly these item actions on the table (or on one of its indexes), and the use of the
    table's customer-managed key if it has one (`grant_*` would also cover every index)."""
    target = f"{table.table_arn}/index/{index_name}" if index_name else table.table_arn
    iam.Grant.add_to_principal(grantee=grantee, actions=actions, resource_arns=[target])
    if table.encryption_key is not None:
        table.encryption_key.grant_encrypt_decrypt(grantee)
