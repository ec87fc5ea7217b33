"""The one stack: composes the units, holds every cross-unit permission, exports what the CLI reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import StageConfig
from stacks.job_store import JobStore
from stacks.lambda_function import lambda_source
from stacks.monitoring import Monitoring
from stacks.nag import acknowledge, arn_of, default_policy
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
        code = lambda_source(str(lambda_src_dir))

        job_store = JobStore(self, "JobStore", config=config)
        simulated_api = SimulatedApi(self, "SimulatedApi", config=config, code=code)
        workflow = CallbackWorkflow(
            self,
            "Workflow",
            config=config,
            code=code,
            task_tokens_table=job_store.table,
            simulated_api=simulated_api.function,
        )
        poller = PollerSchedule(
            self,
            "Poller",
            config=config,
            code=code,
            task_tokens_table=job_store.table,
            pending_index_name=job_store.pending_index_name,
            simulated_api=simulated_api.function,
        )
        Monitoring(
            self,
            "Monitoring",
            state_machine=workflow.state_machine,
            poller=poller.function,
            dead_letter_queue=poller.dead_letter_queue,
        )

        # Every permission between units, in one place. (Within a unit, CDK adds two itself:
        # the state machine may invoke create_job, and the schedule's role may invoke the poller
        # and send to its dead-letter queue.)
        simulated_api.table.grant_read_write_data(simulated_api.function)
        job_store.table.grant_read_write_data(workflow.create_job_function)
        job_store.table.grant_read_write_data(poller.function)
        simulated_api.function.grant_invoke(workflow.create_job_function)
        simulated_api.function.grant_invoke(poller.function)
        workflow.state_machine.grant_task_response(poller.function)

        # The wildcards those grants carry: table indexes, function versions and aliases.
        tokens_index_finding = f"AwsSolutions-IAM5[Resource::{arn_of(job_store.table)}/index/*]"
        invoke_finding = f"AwsSolutions-IAM5[Resource::{arn_of(simulated_api.function)}:*]"
        for function in (workflow.create_job_function, poller.function):
            policy = default_policy(function.role)
            acknowledge(
                policy,
                tokens_index_finding,
                "grant_read_write_data covers the task-token table's indexes; the poller queries the ByStatus GSI.",
            )
            acknowledge(
                policy,
                invoke_finding,
                "grant_invoke covers the simulated API's versions and aliases; the function itself is named.",
            )
            if job_store.key is not None:
                for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
                    acknowledge(
                        policy,
                        f"AwsSolutions-IAM5[Action::{action}]",
                        "grant_read_write_data also grants the use of the task-token table's key (encrypt and "
                        "decrypt); these wildcard actions apply to that one key only.",
                    )

        # Output keys are read by callbackctl: keep them stable.
        outputs = {
            "StateMachineArn": workflow.state_machine.state_machine_arn,
            "TaskTokensTableName": job_store.table.table_name,
            "JobsTableName": simulated_api.table.table_name,
            "CreateJobFunctionName": workflow.create_job_function.function_name,
            "PollerFunctionName": poller.function.function_name,
            "SimulatedApiFunctionName": simulated_api.function.function_name,
            "PollerScheduleName": poller.schedule.schedule_name,
            "DeadLetterQueueUrl": poller.dead_letter_queue.queue_url,
        }
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)
