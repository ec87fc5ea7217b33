"""The one place that sets the defaults every function in this app shares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.checkov import skip_check
from stacks.config import StageConfig
from stacks.dependencies import DependenciesLayer
from stacks.nag import acknowledge, cfn_resource, default_policy

# Handlers are tested on 3.13, and the local cloud runs them on the host's Python 3.13.
RUNTIME = lambda_.Runtime.PYTHON_3_13
# x86_64 matches the machines the local cloud runs handlers on; nothing here needs Graviton.
ARCHITECTURE = lambda_.Architecture.X86_64
# The handlers' third-party dependencies, pinned with their hashes (built into the layer, not the code).
REQUIREMENTS_FILE = "requirements.txt"
# Files in lambda_src/ that are never part of the deployment package.
ASSET_EXCLUDES = ("**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.mypy_cache", REQUIREMENTS_FILE)


@dataclass(frozen=True, kw_only=True)
class LambdaSource:
    """What every function of a stack runs: the code asset and the layers it imports from."""

    code: lambda_.Code
    layers: tuple[lambda_.ILayerVersion, ...]


def lambda_source(scope: Construct, path: Path) -> LambdaSource:
    """The single code asset all functions share (handler strings pick the module), and the layer of
    its dependencies (`<path>/requirements.txt`, construct `Dependencies` in `scope`)."""
    layer = DependenciesLayer(
        scope,
        "Dependencies",
        requirements=path / REQUIREMENTS_FILE,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
    )
    return LambdaSource(code=lambda_.Code.from_asset(str(path), exclude=list(ASSET_EXCLUDES)), layers=(layer,))


class StandardFunction(lambda_.Function):
    """A Python function with this app's defaults and its own log group.

    Shared defaults: the code and its dependencies layer (`source`), runtime, architecture, X-Ray
    tracing, a log group with the stage's retention and removal policy, a role that may write to
    that log group only (instead of the account-wide AWSLambdaBasicExecutionRole), and
    `LOG_LEVEL`/`STAGE` in the environment.
    The caller's `environment` is merged over the common variables, not instead of them.
    The log group is `self.log_group` and the role `self.role` (the `Function` attributes).

    It also accepts the checkov findings every function here shares (no VPC, environment and
    log group without a customer-managed key) and, by default, those of a function invoked
    synchronously and unreserved (no dead-letter queue, no reserved concurrency). A function
    invoked asynchronously or left unreserved for another reason replaces those two reasons
    with its own (`stacks.checkov.skip_check`); reserving concurrency needs no reason.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        source: LambdaSource,
        handler: str,
        description: str,
        environment: Mapping[str, str] | None = None,
        timeout_seconds: int = 15,
        memory_size: int = 128,
        retry_attempts: int | None = None,
        reserved_concurrent_executions: int | None = None,
    ) -> None:
        log_group = logs.LogGroup(
            scope,
            f"{construct_id}LogGroup",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        log_group.grant_write(role)
        super().__init__(
            scope,
            construct_id,
            code=source.code,
            layers=list(source.layers),
            handler=handler,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            timeout=Duration.seconds(timeout_seconds),
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            role=role,
            retry_attempts=retry_attempts,
            reserved_concurrent_executions=reserved_concurrent_executions,
            environment={"LOG_LEVEL": config.log_level, "STAGE": config.stage, **(environment or {})},
        )
        acknowledge(
            cfn_resource(self),
            "AwsSolutions-L1",
            "Pinned to Python 3.13: the handlers are tested on 3.13 and the local cloud runs them on the host's 3.13.",
        )
        acknowledge(
            default_policy(role),
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.",
        )
        skip_check(
            self,
            "CKV_AWS_117",
            "No VPC: the function calls only AWS APIs (DynamoDB, Lambda, Step Functions, X-Ray) over TLS "
            "with IAM authorisation and reaches no private network resource; a VPC would add NAT or an "
            "endpoint per service, and cold-start time, and protect nothing.",
        )
        skip_check(
            self,
            "CKV_AWS_173",
            "The environment holds only resource names and settings (docs/design.md, Environment "
            "variables), no secrets; Lambda encrypts it at rest with its AWS-managed key.",
        )
        skip_check(
            self,
            "CKV_AWS_116",
            "Invoked synchronously only (by Step Functions or by another function): a dead-letter queue "
            "receives failed asynchronous invocations and would stay empty; the caller gets the error.",
        )
        if reserved_concurrent_executions is None:
            skip_check(
                self,
                "CKV_AWS_115",
                "Unreserved: it runs when its callers call it and scales with them (an execution start, "
                "the poller's worker threads); a reservation would cap throughput and take from the "
                "account's unreserved concurrency.",
            )
        skip_check(
            log_group,
            "CKV_AWS_158",
            "No customer-managed key: the handlers log no secrets (a task token only as a short "
            "fingerprint) and CloudWatch Logs encrypts log data at rest with its own keys.",
        )
