"""CloudFormation's ``ReservedConcurrentExecutions`` on ``AWS::Lambda::Function``, applied.

LocalStack core's resource provider for ``AWS::Lambda::Function`` declares the property but never
sends it: a function deployed with reserved concurrency runs unreserved, although LocalStack's
Lambda service enforces a reservation set with ``PutFunctionConcurrency`` (an invocation beyond
it is answered ``TooManyRequestsException``, as on AWS). The local stage relies on that: ten
create_job invocations at a time, so a burst waits in Step Functions' throttling retries instead
of overrunning the one machine everything runs on (``stacks/config.py``). Without it, 1,000
executions started at once made the functions time out by the thousand.

``apply()`` wraps the provider's ``create`` and ``update``: once the function exists (the handler's
``SUCCESS``), the reservation is put, or deleted when an update removes the property, as
CloudFormation does on AWS.
"""

from __future__ import annotations

import logging
from typing import Any

LOG = logging.getLogger("localcloud.lambda")

_ORIGINAL: dict[str, Any] = {}


def _apply_reservation(request: Any, event: Any, *, updating: bool) -> None:
    from localstack.services.cloudformation.resource_provider import OperationStatus

    if event.status != OperationStatus.SUCCESS:
        return
    model = event.resource_model or {}
    desired = request.desired_state or {}
    name = model.get("FunctionName") or desired.get("FunctionName")
    if not name:
        return
    reserved = desired.get("ReservedConcurrentExecutions")
    client = request.aws_client_factory.lambda_
    if reserved is not None:
        client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=int(reserved))
        LOG.info("Reserved concurrency of %s: %s", name, reserved)
    elif updating and (request.previous_state or {}).get("ReservedConcurrentExecutions") is not None:
        client.delete_function_concurrency(FunctionName=name)
        LOG.info("Reserved concurrency of %s removed", name)


def apply() -> None:
    """Patch LocalStack's ``AWS::Lambda::Function`` provider (idempotent)."""
    from localstack.services.lambda_.resource_providers.aws_lambda_function import LambdaFunctionProvider

    if _ORIGINAL:
        return
    _ORIGINAL["create"] = create = LambdaFunctionProvider.create
    _ORIGINAL["update"] = update = LambdaFunctionProvider.update

    def create_with_reservation(self: Any, request: Any) -> Any:
        event = create(self, request)
        _apply_reservation(request, event, updating=False)
        return event

    def update_with_reservation(self: Any, request: Any) -> Any:
        event = update(self, request)
        _apply_reservation(request, event, updating=True)
        return event

    LambdaFunctionProvider.create = create_with_reservation
    LambdaFunctionProvider.update = update_with_reservation
