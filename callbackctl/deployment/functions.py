"""The deployment's Lambda functions: invoke one, read its settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from callbackctl.deployment.targets import Target


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


def configuration(target: Target, function_name: str) -> dict[str, Any]:
    config: dict[str, Any] = target.client("lambda").get_function_configuration(FunctionName=function_name)
    return config


def environment(target: Target, function_name: str) -> dict[str, str]:
    variables: dict[str, str] = configuration(target, function_name).get("Environment", {}).get("Variables", {})
    return variables
