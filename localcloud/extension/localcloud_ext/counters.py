"""Request and invocation counters, served at ``GET /_localcloud/counters``.

Two counters, both since start or the last reset (``POST /_localcloud/counters/reset`` or
``DELETE /_localcloud/counters``, which return the counts they cleared):

- ``requests``: every AWS API request the gateway answered, by service, operation and resource
  (the ``TableName`` or ``FunctionName`` of the request, else ``""``), split into external calls
  (SDKs, handlers, the CLI) and internal ones (LocalStack's own clients: Step Functions invoking a
  Lambda task, the Scheduler firer invoking its target). Errors are counted apart; DynamoDB
  ``Query``/``Scan`` also sum the items they returned (``items``) and examined (``scanned``).
- ``lambda``: every invocation the runtime executor ran, by function: invocations, errors, billed
  milliseconds (as in the REPORT line) and the configured memory, so GB-seconds can be computed.
- ``callbacks``: every ``SendTaskSuccess``/``SendTaskFailure``/``SendTaskHeartbeat`` the gateway
  answered, by task token (as its fingerprint, never the token) and operation: how many were
  accepted and how many rejected, by error code (``TaskTimedOut``, ``InvalidToken``, ...).

Standard library only: the counters are fed from LocalStack's response handler chain and from the
executor, and must stay cheap (one lock, a dict update).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from typing import Any

# Request parameters that name the resource a request is about, in order of preference.
RESOURCE_KEYS = ("TableName", "FunctionName")
CALLBACK_OPERATIONS = frozenset({"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"})


def token_fingerprint(task_token: str) -> str:
    """The same short name for a task token as ``lambda_src/common/log.py`` logs it."""
    return "tok-" + hashlib.sha256(task_token.encode()).hexdigest()[:12]


def resource_name(value: str) -> str:
    """A table or function name from a name or an ARN (``...:function:NAME[:qualifier]``,
    ``...:table/NAME``), so calls by name and by ARN count together."""
    parts = value.split(":")
    if "function" in parts[:-1]:  # a full or partial function ARN
        return parts[parts.index("function") + 1]
    if value.startswith("arn:"):
        if len(parts) >= 6 and parts[5].startswith("table/"):
            return parts[5].split("/")[1]
        return value
    return parts[0]  # a function name may carry a qualifier (name:alias)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class RequestCounter:
    """Counts per (service, operation, resource, internal)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str, bool], dict[str, int]] = {}
        self._since = _now()

    def record(
        self,
        service: str,
        operation: str,
        resource: str = "",
        *,
        internal: bool = False,
        error: bool = False,
        items: int | None = None,
        scanned: int | None = None,
    ) -> None:
        key = (service, operation, resource, internal)
        with self._lock:
            entry = self._counts.get(key)
            if entry is None:
                entry = self._counts[key] = {"count": 0, "errors": 0}
            entry["count"] += 1
            if error:
                entry["errors"] += 1
            if items is not None:
                entry["items"] = entry.get("items", 0) + items
            if scanned is not None:
                entry["scanned"] = entry.get("scanned", 0) + scanned

    def snapshot(self, *, reset: bool = False) -> dict[str, Any]:
        with self._lock:
            rows = [
                {"service": s, "operation": o, "resource": r, "internal": i, **dict(entry)}
                for (s, o, r, i), entry in sorted(self._counts.items())
            ]
            since = self._since
            if reset:
                self._counts = {}
                self._since = _now()
        return {"since": since, "requests": rows}

    def __call__(self, chain: Any, context: Any, response: Any) -> None:
        """A LocalStack response handler: count the request the gateway just answered."""
        try:
            operation = getattr(context, "operation", None)
            service = getattr(context, "service", None)
            if operation is None or service is None:
                return  # not an AWS API request (health checks, /_localcloud/*, ...)
            request = getattr(context, "service_request", None) or {}
            resource = ""
            for key in RESOURCE_KEYS:
                value = request.get(key) if isinstance(request, dict) else None
                if isinstance(value, str):
                    resource = resource_name(value)
                    break
            status = getattr(response, "status_code", 200) or 200
            items = scanned = None
            result = getattr(context, "service_response", None)
            if service.service_name == "dynamodb" and operation.name in ("Query", "Scan") and isinstance(result, dict):
                items = int(result.get("Count", 0) or 0)
                scanned = int(result.get("ScannedCount", 0) or 0)
            self.record(
                service.service_name,
                operation.name,
                resource,
                internal=bool(getattr(context, "is_internal_call", False)),
                error=status >= 400,
                items=items,
                scanned=scanned,
            )
            if service.service_name == "stepfunctions" and operation.name in CALLBACK_OPERATIONS:
                token = request.get("taskToken") if isinstance(request, dict) else None
                code = None
                if status >= 400:
                    exception = getattr(context, "service_exception", None)
                    code = getattr(exception, "code", None) or f"HTTP{status}"
                CALLBACKS.record(token if isinstance(token, str) else None, operation.name, error_code=code)
        except Exception:  # counting must never break a request
            return


class CallbackCounter:
    """Task-token callbacks per (token fingerprint, operation): accepted, rejected by error code."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], dict[str, Any]] = {}

    def record(self, token: str | None, operation: str, *, error_code: str | None = None) -> None:
        key = (token_fingerprint(token) if token is not None else "", operation)
        with self._lock:
            entry = self._counts.get(key)
            if entry is None:
                entry = self._counts[key] = {"accepted": 0, "rejected": {}}
            if error_code is None:
                entry["accepted"] += 1
            else:
                entry["rejected"][error_code] = entry["rejected"].get(error_code, 0) + 1

    def snapshot(self, *, reset: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            rows = [
                {"token": t, "operation": o, "accepted": e["accepted"], "rejected": dict(sorted(e["rejected"].items()))}
                for (t, o), e in sorted(self._counts.items())
            ]
            if reset:
                self._counts = {}
        return rows


class InvocationCounter:
    """Counts Lambda invocations per function name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, Any]] = {}
        self._since = _now()

    def record(self, function_name: str, *, memory_mb: int, billed_ms: int, error: bool) -> None:
        with self._lock:
            entry = self._counts.get(function_name)
            if entry is None:
                entry = self._counts[function_name] = {"invocations": 0, "errors": 0, "billedMs": 0, "memoryMb": 0}
            entry["invocations"] += 1
            entry["billedMs"] += billed_ms
            entry["memoryMb"] = memory_mb
            if error:
                entry["errors"] += 1

    def snapshot(self, *, reset: bool = False) -> dict[str, Any]:
        with self._lock:
            functions = {name: dict(entry) for name, entry in sorted(self._counts.items())}
            since = self._since
            if reset:
                self._counts = {}
                self._since = _now()
        return {"since": since, "functions": functions}


REQUESTS = RequestCounter()
INVOCATIONS = InvocationCounter()
CALLBACKS = CallbackCounter()
# SendTask* lookups that asked every execution for a token's task, not the token index
# (stepfunctions.py): 0 for tokens of this local cloud's own executions.
TOKEN_SCANS = [0]


def snapshot(*, reset: bool = False) -> dict[str, Any]:
    """All counters (cleared afterwards when ``reset``)."""
    requests = REQUESTS.snapshot(reset=reset)
    invocations = INVOCATIONS.snapshot(reset=reset)
    callbacks = CALLBACKS.snapshot(reset=reset)
    token_scans = TOKEN_SCANS[0]
    if reset:
        TOKEN_SCANS[0] = 0
    return {
        "since": requests["since"],
        "requests": requests["requests"],
        "lambda": invocations["functions"],
        "callbacks": callbacks,
        "tokenScans": token_scans,
        "reset": reset,
    }
