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
- A ``SendTaskSuccess``/``SendTaskFailure`` that arrives while the task's Lambda invoke is still
  running (the invoked function, or a poller it started, answers fast) is accepted and then lost
  when the task has ``HeartbeatSeconds``: the task starts waiting for a heartbeat only after the
  invoke returns, never looks at the outcome it already has, and ends ``States.HeartbeatTimeout``.
  AWS delivers it. Seen under load: 153 of 2,000 executions started at once (create_job's invoke
  took ~36 s; the poller finished the job within it).
- A ``Retry`` of a ``.waitForTaskToken`` task reuses the first attempt's token (AWS issues a new
  token per attempt), and a retried attempt that reached the wait returns at once, timed out.
- The context object has no ``Execution.RedriveCount``: ``"x.$": "$$.Execution.RedriveCount"``
  fails the execution with ``States.Runtime`` ("The JSONPath '$$.Execution.RedriveCount'
  specified for the field 'x.$' could not be found in the input ...").

``LocalcloudStepFunctionsProvider`` (selected with ``PROVIDER_OVERRIDE_STEPFUNCTIONS=localcloud``,
see ``plugins.py``) overrides the three ``SendTask*`` operations and ``StopExecution``; ``apply``
patches three interpreter methods of ``ExecutionState``/``ExecutionWorker``, the callback
endpoint's heartbeat set-up and two module functions. ``RedriveExecution`` is not implemented by
this LocalStack (501 ``InternalFailure``) and is not added here: ``RedriveCount`` is always 0.

Three of the patches, and the execution logs sent in batches (``execution_logs.py``), only make
LocalStack's one process cheaper per execution, without changing what an execution does (a burst of
300 executions at once kept it saturated for minutes, until every create_job timed out): a
definition is parsed (ANTLR) once, not at every execution's start; a JSONPath is parsed once, not
at every evaluation (~50 ms of CPU each); a task's AWS client is built once per role, not for every
task (an STS AssumeRole and a new boto client each). All patches are applied when the service first
loads, so LocalStack starts as fast as before.

A task token is *live* while its execution runs and its task waits: no callback delivered
(``SendTaskSuccess``/``SendTaskFailure``), no task or heartbeat timeout, not stopped. Live tokens
take callbacks; known tokens that are not live answer ``TaskTimedOut``; unknown ones
``InvalidToken``. Checking and delivering happen under one lock, so of two concurrent final
callbacks exactly one is accepted.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
import weakref
from typing import Any

import jsonpath_ng.ext.parser
import jsonpath_ng.parser
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
from localstack.services.stepfunctions.asl.component.common.path import result_path
from localstack.services.stepfunctions.asl.component.common.timeouts.timeout import EvalTimeoutError
from localstack.services.stepfunctions.asl.component.state.state_execution.execute_state import ExecutionState
from localstack.services.stepfunctions.asl.eval.callback.callback import (
    CallbackEndpoint,
    CallbackOutcomeFailure,
    CallbackOutcomeSuccess,
    CallbackPoolManager,
)
from localstack.services.stepfunctions.asl.eval.environment import Environment
from localstack.services.stepfunctions.asl.eval.program_state import ProgramStopped
from localstack.services.stepfunctions.asl.parse.asl_parser import AmazonStateLanguageParser
from localstack.services.stepfunctions.asl.parse.preprocessor import Preprocessor
from localstack.services.stepfunctions.asl.utils import boto_client, json_path
from localstack.services.stepfunctions.backend.execution import Execution
from localstack.services.stepfunctions.backend.execution_worker import ExecutionWorker
from localstack.services.stepfunctions.provider import StepFunctionsProvider
from localstack.utils.patch import Patch

from localcloud_ext import counters

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


# Which execution issued a task token. LocalStack finds a token's task by asking every execution it
# ever ran (its store keeps them all): every SendTask* call cost O(executions), 6% of its one
# process in a crowd of 2,000 with 3,000 executions in the store, and growing with every execution.
# A token is recorded when its pool mints it (``_add_token``), and a pool knows its execution from
# the moment the execution's environment is built (``_get_evaluation_environment``).
_TOKEN_POOLS: weakref.WeakValueDictionary[str, CallbackPoolManager] = weakref.WeakValueDictionary()
_POOL_OWNER = "localcloud_execution"  # attribute set on an execution's CallbackPoolManager


def _add_token(fn: Any, self: CallbackPoolManager, callback_id: str) -> CallbackEndpoint:
    endpoint = fn(self, callback_id)
    _TOKEN_POOLS[callback_id] = self
    return endpoint


def _indexed_task(task_token: str) -> tuple[Execution, Environment, CallbackEndpoint] | None:
    pool = _TOKEN_POOLS.get(task_token)
    execution = getattr(pool, _POOL_OWNER, None)
    env = getattr(getattr(execution, "exec_worker", None), "env", None)
    if pool is None or execution is None or env is None or env.callback_pool_manager is not pool:
        return None
    endpoint = pool.get(task_token)
    return None if endpoint is None else (execution, env, endpoint)


class LocalcloudStepFunctionsProvider(StepFunctionsProvider):
    """LocalStack's provider with AWS's task-token and StopExecution behaviour (module docstring)."""

    def _find_task(self, context: RequestContext, task_token: str) -> tuple[Execution, Environment, CallbackEndpoint]:
        store = self.get_store(context)
        found = _indexed_task(task_token)
        if found is not None and store.executions.get(found[0].exec_arn) is found[0]:
            return found
        counters.TOKEN_SCANS[0] += 1  # a token minted elsewhere (an activity task) or by another account/region
        for execution in list(store.executions.values()):
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
    # The execution this environment's task tokens belong to (``_TOKEN_POOLS``).
    setattr(env.callback_pool_manager, _POOL_OWNER, getattr(self._execution_communication, "execution", None))
    return env


@functools.lru_cache(maxsize=64)
def _parse_tree(definition: str) -> Any:
    """The definition's parse tree: parsing it (ANTLR) is most of what starting an execution costs."""
    return AmazonStateLanguageParser.parse(definition)[1]


def _get_evaluation_entrypoint(fn: Any, self: ExecutionWorker) -> Any:
    """The execution's program, built afresh (its components are the execution's own) from the
    definition's parse tree, which is parsed once per definition instead of once per execution."""
    return Preprocessor().visit(_parse_tree(self._evaluation_details.state_machine_details.definition))


def _setup_heartbeat_endpoint(fn: Any, self: CallbackEndpoint, heartbeat_seconds: int) -> Any:
    """The task's heartbeat endpoint, set up when the task's invoke has returned; if the callback
    came during the invoke, it is signalled at once, so the waiting loop reads that outcome instead
    of waiting for a heartbeat that never comes and ending the task HeartbeatTimeout."""
    with _TOKENS:  # a callback is delivered under this lock: it is either seen here or signals the endpoint
        endpoint = fn(self, heartbeat_seconds)
        if self.get_outcome() is not None:
            endpoint.notify()
    return endpoint


_PATCHES = [
    Patch.function(CallbackEndpoint.setup_heartbeat_endpoint, _setup_heartbeat_endpoint),
    Patch.function(ExecutionState._evaluate_with_timeout, _evaluate_with_timeout),
    Patch.function(ExecutionWorker._get_evaluation_environment, _get_evaluation_environment),
    Patch.function(ExecutionWorker._get_evaluation_entrypoint, _get_evaluation_entrypoint),
    Patch.function(CallbackPoolManager.add, _add_token),
]


@functools.lru_cache(maxsize=4096)
def _parse_jsonpath_ext(path: str) -> Any:
    return jsonpath_ng.ext.parser.parse(path)


@functools.lru_cache(maxsize=4096)
def _parse_jsonpath(path: str) -> Any:
    return jsonpath_ng.parser.parse(path)


# A task's AWS client, by (service, region, role): LocalStack assumes the state machine's role and
# builds a new boto client for every task it runs (an STS call and ~50 ms of CPU), which a burst of
# executions pays hundreds of times over. The assumed role's credentials last an hour; a client is
# reused for a fraction of that.
CLIENT_REUSE_SECONDS = 600.0
_CLIENTS: dict[tuple[str, str, str], tuple[float, Any]] = {}
_CLIENTS_LOCK = threading.Lock()
_build_boto_client = boto_client.boto_client_for


def _boto_client_for(service: str, region: str, state_credentials: Any) -> Any:
    key = (service, region, str(state_credentials.role_arn))
    now = time.monotonic()
    with _CLIENTS_LOCK:
        cached = _CLIENTS.get(key)
    if cached is not None and now - cached[0] < CLIENT_REUSE_SECONDS:
        return cached[1]
    client = _build_boto_client(service=service, region=region, state_credentials=state_credentials)
    with _CLIENTS_LOCK:
        _CLIENTS[key] = (now, client)
    return client


def apply() -> None:
    """Apply the interpreter patches (idempotent)."""
    from localcloud_ext import execution_logs

    for patch in _PATCHES:
        patch.apply()
    execution_logs.apply()  # an execution's log events in batches, not one PutLogEvents each
    # Every module of the interpreter that imported boto_client_for by name, and the module itself
    # for those imported later.
    for name, module in list(sys.modules.items()):
        if name.startswith("localstack.services.stepfunctions") and (
            getattr(module, "boto_client_for", None) is _build_boto_client
        ):
            module.boto_client_for = _boto_client_for  # type: ignore[attr-defined]
    # The interpreter parses every JSONPath it evaluates ($$.Task.Token, $.jobResult, ...) afresh, and
    # jsonpath_ng builds a new parser (ply's LALR tables) for each: ~50 ms of CPU under the GIL per
    # path, most of what a burst of executions cost LocalStack's single process. A parsed path is
    # only read when evaluated, so one per path string serves every execution.
    json_path.parse = _parse_jsonpath_ext
    result_path.parse = _parse_jsonpath
