"""A stand-in for a slow external job API: a function and the table it keeps jobs in."""

from __future__ import annotations

from constructs import Construct

from stacks.checkov import skip_check
from stacks.config import StageConfig
from stacks.job_store import standard_table
from stacks.lambda_function import LambdaSource, StandardFunction


class SimulatedApi(Construct):
    """The jobs table (key `jobId`) and the `simulated_api` function that serves it."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, source: LambdaSource) -> None:
        super().__init__(scope, construct_id)
        self.table = standard_table(self, "JobsTable", config=config, partition_key="jobId")
        skip_check(
            self.table,
            "CKV_AWS_119",
            "The simulated API stands in for an external service; its table holds job states and test "
            "payloads, no tokens, and is encrypted with the account's AWS-managed key (aws/dynamodb).",
        )
        self.function = StandardFunction(
            self,
            "Function",
            config=config,
            source=source,
            handler="simulated_api.handler.lambda_handler",
            description="Simulated external job API: CREATE_JOB, CHECK_STATUS and CANCEL_JOB",
            # Longer than create_job's timeout: an injected delay (SIMULATED_FAULTS, 5 s past that
            # timeout in `callbackctl chaos create-job-timeout`) can then make create_job time out
            # after the job exists, while the API itself finishes.
            timeout_seconds=config.simulated_api_timeout_seconds,
            reserved_concurrent_executions=config.simulated_api_reserved_concurrency,
            environment={
                "JOBS_TABLE_NAME": self.table.table_name,
                "COMPLETION_POLLS_MIN": str(config.completion_polls_min),
                "COMPLETION_POLLS_MAX": str(config.completion_polls_max),
            },
        )
