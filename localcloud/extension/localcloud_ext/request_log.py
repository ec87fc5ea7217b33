"""One log line per request only when asked for (``LOCALCLOUD_REQUEST_LOG=1``).

LocalStack logs every request it answers (``AWS dynamodb.UpdateItem => 200``) at INFO, and its
EventBridge logs "No rules attached to event_bus: default" for each execution status event Step
Functions sends. With ~28 requests behind each execution, that was most of the log file (105,000 of
139,000 lines after one bench) and, measured with py-spy during 400 executions at once, about 6% of
the CPU of the one LocalStack process everything waits on: the response logger builds two header
dicts per request before the logger drops or writes the line.

``localcloud/core.py`` sets these loggers to WARNING through LocalStack's ``LOG_LEVEL_OVERRIDES``
unless ``LOCALCLOUD_REQUEST_LOG=1``; ``apply()`` (the ``on_infra_start`` hook, plugins.py) makes
the response logger return before it builds anything when its logger would drop the line. The
functions' own output (``localcloud.lambda``), warnings and errors are logged as before.
"""

from __future__ import annotations

import logging
from typing import Any

_ORIGINAL: dict[str, Any] = {}


def _logger_for(responder: Any, context: Any) -> logging.Logger:
    internal = bool(getattr(context, "is_internal_call", False))
    if getattr(context, "operation", None):
        return responder.internal_aws_logger if internal else responder.aws_logger  # type: ignore[no-any-return]
    return responder.internal_http_logger if internal else responder.http_logger  # type: ignore[no-any-return]


def apply() -> None:
    """Patch LocalStack's response logger to skip a line its logger would drop (idempotent)."""
    from localstack.aws.handlers.logging import ResponseLogger

    if "log" in _ORIGINAL:
        return
    original = ResponseLogger._log
    _ORIGINAL["log"] = original

    def _log(self: Any, context: Any, response: Any) -> None:
        if not _logger_for(self, context).isEnabledFor(logging.INFO):
            return
        original(self, context, response)

    ResponseLogger._log = _log
