"""LocalStack plugins of the local cloud (entry points declared in ../pyproject.toml).

- ``localstack.lambda.runtime_executor`` / ``localcloud``: runs Lambda handlers as host processes
  (selected with ``LAMBDA_RUNTIME_EXECUTOR=localcloud``), see ``executor.py``.
- ``localstack.aws.provider`` / ``stepfunctions:localcloud``: LocalStack's Step Functions with
  AWS's task-token and StopExecution behaviour (selected with
  ``PROVIDER_OVERRIDE_STEPFUNCTIONS=localcloud``), see ``stepfunctions.py``.
- ``localstack.hooks.on_infra_start``: adds the ``/_localcloud/*`` HTTP endpoints and the request
  counter to the gateway's response handlers (see ``counters.py``), publishes Lambda's
  CloudWatch metrics in batches (see ``lambda_metrics.py``), makes CloudFormation apply a
  function's reserved concurrency (see ``lambda_concurrency.py``) and joins the interpreter's
  ended threads (see ``threads.py``); the per-request log lines only when asked for
  (see ``request_log.py``); requests to DynamoDB Local without requests' environment lookups
  (see ``backend_proxy.py``).
- ``localstack.hooks.on_infra_ready``: starts the Scheduler firer, see ``scheduler.py``.
- ``localstack.hooks.on_infra_shutdown``: stops it and the Lambda fork server; after every other
  shutdown hook, makes sure the process exits soon (``localcloud_exit_after_shutdown``).

Keep imports here light: LocalStack imports this module while discovering plugins.
"""

import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from localstack.http import Response, route
from localstack.runtime import hooks
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.plugins import Service, aws_provider

if TYPE_CHECKING:
    from localstack.http import Request

    from localcloud_ext.executor import HostProcessRuntimeExecutor

LOG = logging.getLogger("localcloud")

_STATE: dict[str, Any] = {}


class LocalcloudRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "localcloud"

    def load(self, *args: Any, **kwargs: Any) -> "type[HostProcessRuntimeExecutor]":
        from localcloud_ext.executor import HostProcessRuntimeExecutor

        return HostProcessRuntimeExecutor


@aws_provider(api="stepfunctions", name="localcloud")
def stepfunctions_localcloud() -> Service:
    """Loaded at the first Step Functions request, like LocalStack's own provider."""
    from localcloud_ext import stepfunctions

    stepfunctions.apply()
    return Service.for_provider(stepfunctions.LocalcloudStepFunctionsProvider())


def _clock_speed() -> float:
    raw = os.environ.get("LOCALCLOUD_CLOCK_SPEED", "1")
    try:
        speed = float(raw)
    except ValueError:
        speed = 0.0
    if speed <= 0:
        LOG.warning("Ignoring invalid LOCALCLOUD_CLOCK_SPEED=%r, using 1", raw)
        speed = 1.0
    return speed


class LocalcloudEndpoints:
    """``GET /_localcloud/info``, ``GET /_localcloud/scheduler`` (firing counts),
    ``POST /_localcloud/clock``, ``GET|DELETE /_localcloud/counters`` (request counts) and
    ``POST /_localcloud/lambda/kill`` (fault injection)."""

    @route("/_localcloud/info", methods=["GET"])
    def info(self, request: "Request") -> Response:
        from localstack import config

        return Response.for_json(
            {
                "lambdaExecutor": config.LAMBDA_RUNTIME_EXECUTOR,
                "clockSpeed": _clock_speed(),
                "stateDir": os.environ.get("LOCALCLOUD_STATE_DIR"),
                "lambdaPython": os.environ.get("LOCALCLOUD_LAMBDA_PYTHON"),
                "stepfunctionsProvider": os.environ.get("PROVIDER_OVERRIDE_STEPFUNCTIONS") or "default",
                "pid": os.getpid(),
            }
        )

    @route("/_localcloud/clock", methods=["POST"])
    def clock(self, request: "Request") -> Response:
        """Change the scheduler's clock speed: body ``{"speed": 12}``."""
        firer = _STATE.get("scheduler")
        try:
            speed = float((request.get_json(force=True) or {})["speed"])
            if firer is None:
                raise RuntimeError("scheduler not started")
            firer.clock.set_speed(speed)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            return Response.for_json({"error": str(exc)}, status=400)
        os.environ["LOCALCLOUD_CLOCK_SPEED"] = repr(speed)
        LOG.info("Scheduler clock speed set to %s", speed)
        return Response.for_json({"clockSpeed": speed})

    @route("/_localcloud/scheduler", methods=["GET"])
    def scheduler(self, request: "Request") -> Response:
        firer = _STATE.get("scheduler")
        if firer is None:
            return Response.for_json({"error": "scheduler not started"}, status=503)
        return Response.for_json(firer.snapshot())

    @route("/_localcloud/counters", methods=["GET"])
    def counters(self, request: "Request") -> Response:
        """Requests by service/operation/resource and Lambda invocations by function."""
        from localcloud_ext import counters

        return Response.for_json(counters.snapshot())

    @route("/_localcloud/counters", methods=["DELETE"])
    def counters_delete(self, request: "Request") -> Response:
        return self._counters_reset()

    @route("/_localcloud/counters/reset", methods=["POST"])
    def counters_reset(self, request: "Request") -> Response:
        return self._counters_reset()

    @route("/_localcloud/lambda/kill", methods=["POST"])
    def lambda_kill(self, request: "Request") -> Response:
        """Kill the workers running invocations of a function, like crashed sandboxes: body
        ``{"functionName": "<name or ARN>", "waitSeconds": 0}`` (wait up to that long for an
        invocation to be in flight). Answers ``{"functionName", "killed": n, "pids": [...]}``."""
        from localcloud_ext import counters, executor

        try:
            body = request.get_json(force=True) or {}
            function = body["functionName"]
            wait = float(body.get("waitSeconds", 0))
            if not isinstance(function, str) or not function or not 0 <= wait <= 60:
                raise ValueError("functionName must be a name or ARN, waitSeconds 0..60")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return Response.for_json({"error": f"bad request: {exc}"}, status=400)
        pids = executor.kill_invocations(function, wait_seconds=wait)
        return Response.for_json({"functionName": counters.resource_name(function), "killed": len(pids), "pids": pids})

    @staticmethod
    def _counters_reset() -> Response:
        """Clear the counters; the answer holds what they counted until now."""
        from localcloud_ext import counters

        return Response.for_json(counters.snapshot(reset=True))


@hooks.on_infra_start()
def localcloud_register_endpoints() -> None:
    from localstack.aws.handlers import run_custom_response_handlers
    from localstack.services.edge import ROUTER

    from localcloud_ext import (
        backend_proxy,
        counters,
        lambda_concurrency,
        lambda_logs,
        lambda_metrics,
        request_log,
        threads,
    )

    _STATE["rules"] = ROUTER.add(LocalcloudEndpoints())
    run_custom_response_handlers.append(counters.REQUESTS)
    lambda_metrics.apply()  # Lambda's CloudWatch metrics in batches, not one commit per invocation
    lambda_concurrency.apply()  # CloudFormation's ReservedConcurrentExecutions, which core ignores
    threads.PRUNER.start()  # ended interpreter threads joined: their stacks would exhaust the mappings
    request_log.apply()  # no per-request work when the request log is off (LOCALCLOUD_REQUEST_LOG)
    backend_proxy.apply()  # requests to DynamoDB Local through one urllib3 pool, not a requests session
    lambda_logs.apply()  # functions' log lines in one PutLogEvents per stream and round, not per invocation


@hooks.on_infra_ready()
def localcloud_start_scheduler() -> None:
    from localcloud_ext.scheduler import SchedulerFirer

    firer = SchedulerFirer(_clock_speed(), os.environ.get("LOCALCLOUD_STATE_DIR"))
    firer.start()
    _STATE["scheduler"] = firer


@hooks.on_infra_shutdown()
def localcloud_shutdown() -> None:
    firer = _STATE.pop("scheduler", None)
    if firer is not None:
        firer.stop()
    from localcloud_ext import execution_logs, threads
    from localcloud_ext.lambda_metrics import BATCHER

    BATCHER.stop()
    execution_logs.BATCHER.stop()
    threads.PRUNER.stop()
    from localcloud_ext.executor import FORK_SERVER

    FORK_SERVER.shutdown()


@hooks.on_infra_shutdown(priority=-100)
def localcloud_exit_after_shutdown() -> None:
    """The last shutdown hook: LocalStack has stopped its services (priority -10/-20). Its process
    would then wait for lingering non-daemon threads (Lambda's log shipper retrying to post logs
    to the already closed gateway, CloudWatch's alarm scheduler: up to ~30 s) and finalize a large
    heap (seconds on a busy machine). Nothing is persisted here (PERSISTENCE=0): exit now."""
    LOG.info("Shutdown: services stopped, exiting (threads left: %d)", threading.active_count())
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
