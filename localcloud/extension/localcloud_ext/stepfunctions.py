"""Step Functions as AWS behaves for task tokens, StopExecution and ``$$.Execution.RedriveCount``.

LocalStack's open-source Step Functions (``localstack.services.stepfunctions``, 2026.3.0) differs
from AWS where the callback pattern depends on it. Measured against the unpatched provider:

- ``StopExecution`` of an execution waiting on a task token leaves it RUNNING until the task's own
  timeout (forever by default); with ``HeartbeatSeconds`` it then ends FAILED, not ABORTED. Stopped
  during the task's Lambda invoke, it ends FAILED too. AWS: ABORTED at once, history ends with
  ``ExecutionAborted``.
- A token whose task has ended (callback received, timed out, execution stopped or ended) is
  still accepted: ``SendTaskFailure`` for any execution, ``SendTaskSuccess``/``Heartbeat`` while
  the execution runs (a second ``SendTaskSuccess`` is accepted and ignored); once the execution
  ended they answer ``InvalidToken``. AWS answers ``TaskTimedOut`` ("Provided task does not exist
  anymore") to all three, and ``InvalidToken`` only for a token it does not know.
- ``SendTaskHeartbeat`` for a task without ``HeartbeatSeconds`` answers ``InvalidToken`` (AWS
  accepts it), as does one sent while the task's Lambda invoke is still running.
- A ``Retry`` of a ``.waitForTaskToken`` task reuses the first attempt's token (AWS issues a new
  token per attempt), and a retried attempt that reached the wait returns at once, timed out.
- The context object has no ``Execution.RedriveCount``: ``"x.$": "$$.Execution.RedriveCount"``
  fails the execution with ``States.Runtime`` ("The JSONPath '$$.Execution.RedriveCount'
  specified for the field 'x.$' could not be found in the input ...").

``LocalcloudStepFunctionsProvider`` (selected with ``PROVIDER_OVERRIDE_STEPFUNCTIONS=localcloud``,
see ``plugins.py``) overrides the three ``SendTask*`` operations and ``StopExecution``; ``apply``
patches two interpreter methods (``ExecutionState._evaluate_with_timeout`` and
``ExecutionWorker._get_evaluation_environment``). Both happen when the service first loads, so
LocalStack starts as fast as before. ``RedriveExecution`` is not implemented by this LocalStack
(501 ``InternalFailure``) and is not added here: ``RedriveCount`` is always 0.

A task token is *live* while its execution runs and its task waits: no callback delivered
(``SendTaskSuccess``/``SendTaskFailure``), no task or heartbeat timeout, not stopped. Live tokens
take callbacks; known tokens that are not live answer ``TaskTimedOut``; unknown ones
``InvalidToken``. Checking and delivering happen under one lock, so of two concurrent final
callbacks exactly one is accepted.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from localstack.aws.api import RequestContext
from localstack.aws.api.stepfunctions import (
    Arn,
    ExecutionStatus,
    InvalidToken,
    SendTaskFailureOutput,
    SendTaskHeartbeatOutput,
    SendTaskSuccessOutput,
    SensitiveCause,
    SensitiveData,
    SensitiveError,
    StopExecutionOutput,
    TaskTimedOut,
    TaskToken,
)
from localstack.services.stepfunctions.asl.component.common.timeouts.timeout import EvalTimeoutError
from localstack.services.stepfunctions.asl.component.state.state_execution.execute_state import ExecutionState
from localstack.services.stepfunctions.asl.eval.callback.callback import (
    CallbackEndpoint,
    CallbackOutcomeFailure,
    CallbackOutcomeSuccess,
)
from localstack.services.stepfunctions.asl.eval.environment import Environment
from localstack.services.stepfunctions.asl.eval.program_state import ProgramStopped
from localstack.services.stepfunctions.backend.execution import Execution
from localstack.services.stepfunctions.backend.execution_worker import ExecutionWorker
from localstack.services.stepfunctions.provider import StepFunctionsProvider
from localstack.utils.patch import Patch

LOG = logging.getLogger("localcloud.stepfunctions")

TASK_GONE = "Task Timed Out: 'Provided task does not exist anymore'"
STOP_WAIT_SECONDS = 5.0  # StopExecution waits this long for the execution to end (ABORTED)

# Guards "is the token live?" + "deliver the callback", and ending a task's token.
_TOKENS = threading.RLock()


def _task_ended(endpoint: CallbackEndpoint) -> bool:
    """True once the task got its outcome or stopped waiting. LocalStack sets the endpoint's
    notify event on both (``notify`` and ``interrupt_all``); it has no public accessor."""
    return bool(endpoint._notify_event.is_set())  # a threading.Event's; LocalStack is Any here


def _end_task(endpoint: CallbackEndpoint | None) -> None:
    """End a task's wait (its waiting thread wakes up): its token answers TaskTimedOut from now."""
    if endpoint is not None:
        with _TOKENS:
            endpoint.interrupt_all()


def _pool(env: Environment) -> list[CallbackEndpoint]:
    return list(env.callback_pool_manager._pool.values())  # no public listing either


class LocalcloudStepFunctionsProvider(StepFunctionsProvider):
    """LocalStack's provider with AWS's task-token and StopExecution behaviour (module docstring)."""

    def _find_task(self, context: RequestContext, task_token: str) -> tuple[Execution, Environment, CallbackEndpoint]:
        for execution in list(self.get_store(context).executions.values()):
            env = getattr(execution.exec_worker, "env", None)
            if env is None:
                continue
            endpoint = env.callback_pool_manager.get(task_token)
            if endpoint is not None:
                return execution, env, endpoint
        raise InvalidToken("Invalid token")

    def _live_task(self, context: RequestContext, task_token: str) -> CallbackEndpoint:
        """The waiting task of this token; TaskTimedOut if it ended, InvalidToken if unknown.
        Call with ``_TOKENS`` held."""
        execution, env, endpoint = self._find_task(context, task_token)
        if execution.exec_status != ExecutionStatus.RUNNING or not env.is_running() or _task_ended(endpoint):
            raise TaskTimedOut(TASK_GONE)
        return endpoint

    def send_task_success(
        self, context: RequestContext, task_token: TaskToken, output: SensitiveData, **kwargs: Any
    ) -> SendTaskSuccessOutput:
        with _TOKENS:
            endpoint = self._live_task(context, task_token)
            endpoint.notify(CallbackOutcomeSuccess(callback_id=task_token, output=output))
        return SendTaskSuccessOutput()

    def send_task_failure(
        self,
        context: RequestContext,
        task_token: TaskToken,
        error: SensitiveError = None,
        cause: SensitiveCause = None,
        **kwargs: Any,
    ) -> SendTaskFailureOutput:
        with _TOKENS:
            endpoint = self._live_task(context, task_token)
            endpoint.notify(CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause))
        return SendTaskFailureOutput()

    def send_task_heartbeat(
        self, context: RequestContext, task_token: TaskToken, **kwargs: Any
    ) -> SendTaskHeartbeatOutput:
        with _TOKENS:
            endpoint = self._live_task(context, task_token)
            endpoint.notify_heartbeat()  # False (and still accepted) without HeartbeatSeconds
        return SendTaskHeartbeatOutput()

    def stop_execution(
        self,
        context: RequestContext,
        execution_arn: Arn,
        error: SensitiveError = None,
        cause: SensitiveCause = None,
        **kwargs: Any,
    ) -> StopExecutionOutput:
        output = super().stop_execution(context, execution_arn, error=error, cause=cause, **kwargs)
        execution = self._get_execution(context, execution_arn)
        env = getattr(execution.exec_worker, "env", None)
        if env is not None:
            for endpoint in _pool(env):  # wake every waiting task: the program then ends ABORTED
                _end_task(endpoint)
        # AWS's StopExecution is synchronous: describe right after shows ABORTED. Here the
        # evaluation thread winds down in milliseconds, unless a state is inside a service call
        # (e.g. a Lambda invoke): that call is awaited, and the execution ends when it returns.
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while execution.exec_status == ExecutionStatus.RUNNING and time.monotonic() < deadline:
            time.sleep(0.01)
        return output


def _evaluate_with_timeout(fn: Any, self: ExecutionState, env: Environment) -> None:
    """``ExecutionState._evaluate_with_timeout`` (one attempt of a Task/Map/Parallel state)
    with: a fresh task token per retry attempt, the token ended when the attempt times out, and
    a stopped execution ending quietly (no TaskFailed/TaskTimedOut, no Catch, then ABORTED)."""
    context = env.states.context_object.context_object_data
    task = context.get("Task")  # present only while a .waitForTaskToken (callback) task runs
    if task is not None and context.get("State", {}).get("RetryCount", 0) > 0:
        _end_task(env.callback_pool_manager.get(task["Token"]))
        env.callback_pool_manager.add(env.states.context_object.update_task_token())
    try:
        fn(self, env)
    except EvalTimeoutError:
        # States.Timeout: LocalStack leaves the task's waiting thread (and its token) alive
        # until its own wait ends (up to HeartbeatSeconds later); AWS ends the task now.
        current = context.get("Task")
        if current is not None:
            _end_task(env.callback_pool_manager.get(current["Token"]))
        raise
    except Exception:
        if isinstance(env.program_state(), ProgramStopped):
            LOG.debug("State %s ended by StopExecution", getattr(self, "name", "?"))
            return  # the state returns; the program then records ExecutionAborted
        raise


def _get_evaluation_environment(fn: Any, self: ExecutionWorker) -> Environment:
    """The execution's environment with ``Execution.RedriveCount`` (0: executions are never
    redriven here) in the context object, as on AWS."""
    env = fn(self)
    env.states.context_object.context_object_data["Execution"].setdefault("RedriveCount", 0)
    return env


_PATCHES = [
    Patch.function(ExecutionState._evaluate_with_timeout, _evaluate_with_timeout),
    Patch.function(ExecutionWorker._get_evaluation_environment, _get_evaluation_environment),
]


def apply() -> None:
    """Apply the interpreter patches (idempotent)."""
    for patch in _PATCHES:
        patch.apply()
