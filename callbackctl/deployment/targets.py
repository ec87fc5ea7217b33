"""Where the stack runs: the local cloud, a LocalStack in Docker, or a real AWS account.

One option (`--target`) selects it; the handlers never know which one they run on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config
from botocore.exceptions import ProfileNotFound

from callbackctl.errors import UsageError

if TYPE_CHECKING:  # boto3-stubs (requirements-dev.txt): types only, never imported at run time
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_sts import STSClient

STACK_NAME = "CallbackPattern"
TARGETS = ("localcloud", "localstack", "aws")
LOCAL_REGION = "us-east-1"
_LOCAL_DEFAULTS = {"localcloud": "LOCALCLOUD_ENDPOINT", "localstack": "LOCALSTACK_ENDPOINT"}


@dataclass(frozen=True, kw_only=True)
class Target:
    name: str
    endpoint_url: str | None  # None: real AWS, boto3's own endpoint resolution
    region: str
    stage: str  # default CDK stage for deploys to this target
    profile: str | None = None  # AWS only: a named profile of the shared config files
    _clients: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_local(self) -> bool:
        return self.endpoint_url is not None

    @property
    def cdk_command(self) -> str:
        """The pinned CDK CLI for this target: cdklocal against local endpoints, cdk against AWS."""
        return "cdklocal" if self.is_local else "cdk"

    def cdk_env(self) -> dict[str, str]:
        """Environment for the CDK CLI: local targets get the endpoint variables cdklocal needs."""
        env = dict(os.environ)
        if self.endpoint_url is None:  # a local endpoint left in the shell must not redirect an AWS deploy
            for name in [k for k in env if k.startswith("AWS_ENDPOINT_URL")]:
                del env[name]
            env.update(AWS_REGION=self.region, AWS_DEFAULT_REGION=self.region)
            if self.profile:
                env["AWS_PROFILE"] = self.profile
        else:
            env.update(
                AWS_ENDPOINT_URL=self.endpoint_url,
                AWS_ENDPOINT_URL_S3=self.endpoint_url,
                AWS_S3_FORCE_PATH_STYLE="1",
                AWS_ACCESS_KEY_ID="test",
                AWS_SECRET_ACCESS_KEY="test",
                AWS_DEFAULT_REGION=self.region,
                AWS_REGION=self.region,
            )
        env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
        return env

    # One overload per service the tool uses, so every call is checked against boto3-stubs.
    @overload
    def client(
        self, service: Literal["cloudformation"], *, read_timeout: float | None = None
    ) -> CloudFormationClient: ...
    @overload
    def client(self, service: Literal["dynamodb"], *, read_timeout: float | None = None) -> DynamoDBClient: ...
    @overload
    def client(self, service: Literal["lambda"], *, read_timeout: float | None = None) -> LambdaClient: ...
    @overload
    def client(self, service: Literal["logs"], *, read_timeout: float | None = None) -> CloudWatchLogsClient: ...
    @overload
    def client(
        self, service: Literal["scheduler"], *, read_timeout: float | None = None
    ) -> EventBridgeSchedulerClient: ...
    @overload
    def client(self, service: Literal["sqs"], *, read_timeout: float | None = None) -> SQSClient: ...
    @overload
    def client(self, service: Literal["stepfunctions"], *, read_timeout: float | None = None) -> SFNClient: ...
    @overload
    def client(self, service: Literal["sts"], *, read_timeout: float | None = None) -> STSClient: ...
    def client(self, service: str, *, read_timeout: float | None = None) -> Any:
        """A boto3 client for this target (cached), with a connection pool sized for concurrent calls.

        ``read_timeout`` gives an uncached client that waits that long for an answer, with no retry
        (a synchronous Lambda invoke that runs for minutes).
        """
        if read_timeout is None and service in self._clients:
            return self._clients[service]
        # On AWS, ignore AWS_ENDPOINT_URL* left in the shell (e.g. by `localcloud env`).
        options: dict[str, Any] = {
            "max_pool_connections": 64,
            "retries": {"mode": "standard", "max_attempts": 5 if read_timeout is None else 1},
            "ignore_configured_endpoint_urls": not self.is_local,
        }
        if read_timeout is not None:
            options.update(read_timeout=read_timeout, connect_timeout=10)
        config = Config(**options)
        kwargs: dict[str, Any] = {"region_name": self.region, "config": config}
        # boto3-stubs types boto3.client() per literal service name; here the name is a parameter (the
        # overloads above give each caller its typed client), hence the call-overload ignores below.
        if self.is_local:
            kwargs.update(endpoint_url=self.endpoint_url, aws_access_key_id="test", aws_secret_access_key="test")
            client = boto3.client(service, **kwargs)  # type: ignore[call-overload]
        else:
            client = boto3.Session(profile_name=self.profile).client(service, **kwargs)  # type: ignore[call-overload]
        if read_timeout is None:
            self._clients[service] = client
        return client


def resolve_target(
    name: str, *, endpoint: str | None = None, region: str | None = None, profile: str | None = None
) -> Target:
    """Build the Target for a --target value (endpoint overrides the local default)."""
    if name in _LOCAL_DEFAULTS:
        if region or profile:
            raise UsageError(
                f"--region and --profile are for --target aws; {name} uses {LOCAL_REGION} and test credentials"
            )
        url = endpoint or os.environ.get(_LOCAL_DEFAULTS[name]) or "http://localhost:4566"
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--endpoint {url!r} is not a URL: use e.g. http://localhost:4566")
        return Target(name=name, endpoint_url=url, region=LOCAL_REGION, stage="local")
    if name == "aws":
        if endpoint:
            raise UsageError("--endpoint is for the local targets; --target aws uses AWS's own endpoints")
        try:
            session = boto3.Session(profile_name=profile)
        except ProfileNotFound:
            raise UsageError(f"no AWS profile {profile!r}: list them with `aws configure list-profiles`") from None
        region = region or os.environ.get("AWS_REGION") or session.region_name
        if not region:
            raise UsageError("no AWS region: pass --region, set AWS_REGION, or give your profile a region")
        return Target(name=name, endpoint_url=None, region=region, stage="aws", profile=profile)
    raise UsageError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")
