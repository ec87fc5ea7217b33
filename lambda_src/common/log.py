"""Structured JSON logs through Powertools for AWS Lambda (Logger), and a safe task-token fingerprint.

Every function logs through `get_logger(<service>)`: one JSON object per line on stdout, with
`level`, `location`, `message`, `timestamp`, `service` (the function: `create_job`, `poller`,
`simulated_api`) and the `extra` fields of the call. A handler wrapped in `inject_lambda_context`
adds, on every line of an invocation, the Lambda context (`function_request_id`, `cold_start`,
`function_name`, ...), the X-Ray trace id and the correlation keys its event carries (`jobId`,
`executionArn`). A task token is never logged, only `token_fingerprint(token)`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

Handler = TypeVar("Handler", bound=Callable[..., Any])

_LOGGERS: dict[str, Logger] = {}


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]  # its stream is a property here, not a type argument
    """Writes to whatever sys.stdout is at the time of the call (Lambda and test runners swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def get_logger(name: str) -> Logger:
    """The Powertools Logger of service `name`, writing JSON lines to stdout at the level in LOG_LEVEL
    (INFO by default). The same object for the same name: every module of a function shares it."""
    logger = _LOGGERS.get(name)
    if logger is None:
        logger = Logger(service=name, logger_handler=_StdoutHandler(), utc=True, use_rfc3339=True)
        # Lambda's runtime has a handler on the root logger: a record must not reach it a second time.
        logger._logger.propagate = False
        _LOGGERS[name] = logger
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    return logger


def inject_lambda_context(logger: Logger, *, correlation: Mapping[str, str]) -> Callable[[Handler], Handler]:
    """Decorates a Lambda handler: each invocation starts from a clean set of keys, then logs with the
    Lambda context (request id, cold start, function) and the correlation keys the event has.

    `correlation` maps a log key to the event field that holds it, e.g. `{"executionArn": "executionId"}`;
    a field the event lacks (or that is not a non-empty string) adds nothing. Called without a Lambda
    context (tests, `callbackctl poll`), only the correlation keys are added.
    """

    def decorator(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def with_correlation(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            logger.append_keys(**correlation_keys(event, correlation))
            return handler(event, context, *args, **kwargs)

        with_context = logger.inject_lambda_context(with_correlation, clear_state=True)

        @functools.wraps(handler)
        def run(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            if hasattr(context, "aws_request_id"):
                return with_context(event, context, *args, **kwargs)
            logger.clear_state()
            return with_correlation(event, context, *args, **kwargs)

        return run  # type: ignore[return-value]

    return decorator


def correlation_keys(event: Any, correlation: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(event, dict):
        return {}
    found = {key: event.get(field) for key, field in correlation.items()}
    return {key: value for key, value in found.items() if isinstance(value, str) and value}


def token_fingerprint(task_token: str) -> str:
    """A short, stable, non-reversible name for a task token, safe to log (never log the token)."""
    return "tok-" + hashlib.sha256(task_token.encode()).hexdigest()[:12]
