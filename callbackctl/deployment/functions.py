"""The deployment's Lambda functions: invoke one, read its settings, read its log lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from callbackctl.deployment.targets import Target

if TYPE_CHECKING:
    from mypy_boto3_lambda.type_defs import FunctionConfigurationResponseTypeDef
    from mypy_boto3_logs.type_defs import FilteredLogEventTypeDef


@dataclass(frozen=True)
class Invocation:
    body: Any
    error: str | None  # the FunctionError header ("Unhandled") when the function raised


def invoke(target: Target, function_name: str, payload: Any, *, read_timeout: float | None = None) -> Invocation:
    """Invoke synchronously and decode the answer. ``read_timeout`` for runs longer than a minute."""
    response = target.client("lambda", read_timeout=read_timeout).invoke(
        FunctionName=function_name, Payload=json.dumps(payload).encode()
    )
    return Invocation(json.loads(response["Payload"].read() or b"null"), response.get("FunctionError"))


def configuration(target: Target, function_name: str) -> FunctionConfigurationResponseTypeDef:
    return target.client("lambda").get_function_configuration(FunctionName=function_name)


def environment(target: Target, function_name: str) -> dict[str, str]:
    variables: dict[str, str] = configuration(target, function_name).get("Environment", {}).get("Variables", {})
    return variables


def log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def log_events(
    target: Target, function_name: str, *, start_ms: int, pattern: str | None = None
) -> Iterator[FilteredLogEventTypeDef]:
    """The function's log events since ``start_ms`` (epoch milliseconds), oldest first, every page.

    Nothing when the function has not logged yet (its log group does not exist).
    """
    kwargs: dict[str, Any] = {"logGroupName": log_group(function_name), "startTime": start_ms}
    if pattern:
        kwargs["filterPattern"] = pattern
    try:
        for page in target.client("logs").get_paginator("filter_log_events").paginate(**kwargs):
            yield from page["events"]
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
