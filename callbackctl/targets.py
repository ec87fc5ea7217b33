"""Where the stack runs: the local cloud, a LocalStack in Docker, or a real AWS account.

One option (`--target`) selects it; the handlers never know which one they run on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

STACK_NAME = "CallbackPattern"
TARGETS = ("localcloud", "localstack", "aws")
LOCAL_REGION = "us-east-1"


class UsageError(RuntimeError):
    """A problem the user can fix; the message says how. Printed without a traceback."""


@dataclass(frozen=True, kw_only=True)
class Target:
    name: str
    endpoint_url: str | None  # None: real AWS, boto3's own endpoint resolution
    region: str
    stage: str  # default CDK stage for deploys to this target
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
        if not self.is_local:  # a local endpoint left in the shell must not redirect an AWS deploy
            for name in [k for k in env if k.startswith("AWS_ENDPOINT_URL")]:
                del env[name]
        if self.is_local:
            assert self.endpoint_url is not None
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

    def client(self, service: str) -> Any:
        """A boto3 client for this target (cached), with a connection pool sized for concurrent calls."""
        if service not in self._clients:
            # On AWS, ignore AWS_ENDPOINT_URL* left in the shell (e.g. by `localcloud env`).
            config = Config(  # type: ignore[call-arg]  # botocore-stubs lack ignore_configured_endpoint_urls
                max_pool_connections=64,
                retries={"mode": "standard", "max_attempts": 5},
                ignore_configured_endpoint_urls=not self.is_local,
            )
            kwargs: dict[str, Any] = {"region_name": self.region, "config": config}
            if self.is_local:
                kwargs.update(endpoint_url=self.endpoint_url, aws_access_key_id="test", aws_secret_access_key="test")
            self._clients[service] = boto3.client(service, **kwargs)  # type: ignore[call-overload]
        return self._clients[service]


def resolve_target(name: str, *, endpoint: str | None = None) -> Target:
    """Build the Target for a --target value (endpoint overrides the local default)."""
    if name == "localcloud":
        url = endpoint or os.environ.get("LOCALCLOUD_ENDPOINT") or "http://localhost:4566"
        return Target(name=name, endpoint_url=url, region=LOCAL_REGION, stage="local")
    if name == "localstack":
        url = endpoint or os.environ.get("LOCALSTACK_ENDPOINT") or "http://localhost:4566"
        return Target(name=name, endpoint_url=url, region=LOCAL_REGION, stage="local")
    if name == "aws":
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or boto3.Session().region_name
        if not region:
            raise UsageError("no AWS region: set AWS_REGION (or configure a profile with a region) for --target aws")
        return Target(name=name, endpoint_url=None, region=region, stage="aws")
    raise UsageError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")
