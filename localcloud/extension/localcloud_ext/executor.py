"""LocalStack Lambda runtime executor that runs Python handlers as host processes (no Docker).

LocalStack creates one executor per execution environment (``ExecutionEnvironment``) and calls
``start`` once, ``invoke`` for each invocation routed to that environment (one at a time), and
``stop`` when the environment is retired (idle for ``LAMBDA_KEEPALIVE_MS``, function updated or
deleted, shutdown). Each executor owns one worker process, forked by a fork server (see
``lambda_runtime.py``) and kept alive between invocations, like a warm Lambda sandbox.

What is enforced: the function's timeout (the worker is killed and the invoke returns
``Sandbox.Timedout``, the next invoke starts a fresh worker, as Lambda resets the sandbox); the
environment variables (the function's own plus Lambda's reserved ones). Memory: the worker gets
``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` and the REPORT log line shows the peak RSS ("Max Memory Used");
with ``LOCALCLOUD_LAMBDA_ENFORCE_MEMORY=1`` an invocation whose peak RSS exceeds the memory size
fails with ``Runtime.OutOfMemory`` and the worker is replaced. Layers: each layer version the
function references is unzipped once (``prepare_version``) and its ``python`` and
``python/lib/pythonX.Y/site-packages`` folders go on the worker's ``sys.path`` after the code, as
Lambda's ``/opt/python`` (LocalStack core stores layers but runs them only in its Pro image). Not
enforced: CPU share, /tmp size, extensions (layers' ``extensions/``), other runtimes than Python.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import StatusErrorException
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from localcloud_ext import counters, lambda_runtime

LOG = logging.getLogger("localcloud.lambda")

RUNTIME_SCRIPT = Path(lambda_runtime.__file__).resolve()
DEFAULT_ACCOUNT = "000000000000"


def _runtime_python() -> str:
    """The interpreter that runs handlers: the local cloud's runtime venv (has boto3)."""
    return os.environ.get("LOCALCLOUD_LAMBDA_PYTHON") or sys.executable


def _log_dir() -> Path:
    path = Path(config.dirs.tmp) / "localcloud-lambda"
    path.mkdir(parents=True, exist_ok=True)
    return path


class _ForkServer:
    """The zygote process; started lazily, restarted if it dies. Shared by all executors."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None

    def _start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        python = _runtime_python()
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
        }
        self._process = subprocess.Popen(
            [python, "-I", str(RUNTIME_SCRIPT), str(child.fileno())],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            env=env,
            cwd="/",
        )
        child.close()
        parent.settimeout(60)
        ready = parent.recv(65536)
        if not ready:
            raise LambdaRuntimeException(f"Lambda runtime {python} failed to start")
        parent.settimeout(None)
        self._control = parent
        LOG.info("Lambda fork server started: %s (pid %s)", python, self._process.pid)

    def spawn(self, spec: lambda_runtime.Message, fds: list[int]) -> int:
        with self._lock:
            for attempt in (1, 2):
                if self._process is None or self._process.poll() is not None:
                    self._start()
                control = self._control
                assert control is not None
                try:
                    socket.send_fds(control, [json.dumps(spec).encode()], fds)
                    answer = control.recv(65536)
                    if answer:
                        reply = json.loads(answer)
                        if "pid" in reply:
                            return int(reply["pid"])
                        raise LambdaRuntimeException(f"fork server refused: {reply}")
                except OSError:
                    if attempt == 2:
                        raise
                self._kill()
            raise LambdaRuntimeException("Lambda fork server is not answering")

    def _kill(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait(timeout=5)
            self._process = None

    def shutdown(self) -> None:
        with self._lock:
            self._kill()


FORK_SERVER = _ForkServer()

# Every started executor, for the fault hook (``kill_invocations``).
_EXECUTORS: set[HostProcessRuntimeExecutor] = set()
_EXECUTORS_LOCK = threading.Lock()


def kill_invocations(function_name: str, wait_seconds: float = 0.0) -> list[int]:
    """Fault injection: SIGKILL the worker processes running an invocation of ``function_name``
    (a name or ARN; qualifiers are ignored), as if their sandboxes crashed. Each such invocation
    ends with ``Runtime.ExitError`` ("Runtime exited with error: signal: killed"), as on Lambda;
    the next invocation of those environments starts a fresh worker. Idle workers are left alone.
    With ``wait_seconds``, waits up to that long for an invocation to be in flight. Returns the
    pids killed."""
    name = counters.resource_name(function_name)
    deadline = time.monotonic() + wait_seconds
    while True:
        with _EXECUTORS_LOCK:
            executors = [e for e in _EXECUTORS if e.function_version.id.function_name == name]
        killed = [pid for e in executors if (pid := e.crash_invocation()) is not None]
        if killed or time.monotonic() >= deadline:
            if killed:
                LOG.info("[%s] fault injected: killed worker(s) %s mid-invocation", name, killed)
            return killed
        time.sleep(0.02)


def _code_layers(config_: Any) -> list[Any]:
    """The function's layer versions in their order (later ones win, as when Lambda unzips them into
    /opt one after the other); a layer without code (none in practice) is skipped."""
    return [layer for layer in config_.layers or [] if layer.code is not None]


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class HostProcessRuntimeExecutor(RuntimeExecutor):
    """Runs a Python handler in a host process (see module docstring)."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._env: dict[str, str] = {}
        self._pid: int | None = None
        self._channel: socket.socket | None = None
        self._log_path = _log_dir() / f"{id}.log"
        self._log_file: BinaryIO | None = None
        self._init_ms: float | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._invoking = False  # an invocation is in flight on the current worker
        self._crashed = False  # its worker was killed by the fault hook

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        with _EXECUTORS_LOCK:
            _EXECUTORS.add(self)
        self._env = self._worker_env(env_vars)
        error = self._spawn()
        if error is not None:
            raise StatusErrorException("Environment startup failed", payload=error)

    def stop(self) -> None:
        self._stopped = True
        with _EXECUTORS_LOCK:
            _EXECUTORS.discard(self)
        self._kill_worker()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        with contextlib.suppress(FileNotFoundError):
            self._log_path.unlink()

    def _worker_env(self, env_vars: dict[str, str]) -> dict[str, str]:
        config_ = self.function_version.config
        user_env = config_.environment or {}
        code_dir = str(config_.code.get_unzipped_code_location())
        account = self.function_version.id.account
        runtime_bin = str(Path(_runtime_python()).parent)
        env = {
            "PATH": f"{runtime_bin}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            **{key: str(value) for key, value in env_vars.items()},
        }
        overrides = {
            "LAMBDA_TASK_ROOT": code_dir,
            "LAMBDA_RUNTIME_DIR": str(RUNTIME_SCRIPT.parent),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config_.runtime}",
            # test credentials (the account id works as an access key for other accounts)
            "AWS_ACCESS_KEY_ID": "test" if account == DEFAULT_ACCOUNT else account,
            "AWS_SECRET_ACCESS_KEY": "test",
        }
        for key, value in overrides.items():
            if key not in user_env:
                env[key] = value
        if "AWS_SESSION_TOKEN" not in user_env:
            env.pop("AWS_SESSION_TOKEN", None)
        return env

    def _spawn(self) -> bytes | None:
        """Start a worker; returns None when ready, or the error payload of a failed init."""
        config_ = self.function_version.config
        if self._log_file is None:
            self._log_file = open(self._log_path, "a+b")  # noqa: SIM115 - lives with the executor
        log_fd = self._log_file.fileno()
        spec = {
            "env": self._env,
            "code_dir": self._env["LAMBDA_TASK_ROOT"],
            "handler": config_.handler,
            "layer_dirs": [str(layer.code.get_unzipped_code_location()) for layer in _code_layers(config_)],
            "function_name": self.function_version.id.function_name,
            "function_version": self.function_version.id.qualifier,
            "memory_size": config_.memory_size,
            "enforce_memory": os.environ.get("LOCALCLOUD_LAMBDA_ENFORCE_MEMORY", "0") == "1",
        }
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid = FORK_SERVER.spawn(spec, [theirs.fileno(), log_fd])
        finally:
            theirs.close()
        with self._lock:
            self._pid, self._channel = pid, ours
        ours.settimeout(config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT)
        try:
            message = lambda_runtime.recv_msg(ours)
        except OSError:
            message = None
        ours.settimeout(None)
        if message is None:
            self._kill_worker()
            return _error_payload("Runtime.ExitError", "Runtime exited during init")
        self._init_ms = message.get("init_ms")
        if message["type"] == "init_error":
            self._kill_worker()
            LOG.info("[%s] init failed: %s", self._name, self._read_logs().strip())
            return json.dumps(message["error"]).encode()
        LOG.debug("[%s] worker %s ready in %.1f ms", self._name, pid, self._init_ms or 0)
        return None

    def _kill_worker(self) -> None:
        with self._lock:
            pid, channel = self._pid, self._channel
            self._pid = self._channel = None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if channel is not None:
            channel.close()

    def crash_invocation(self) -> int | None:
        """SIGKILL the worker if it is running an invocation (see ``kill_invocations``)."""
        with self._lock:
            if not self._invoking or self._pid is None:
                return None
            pid, self._crashed = self._pid, True
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pid

    @property
    def _name(self) -> str:
        name: str = self.function_version.id.function_name  # LocalStack's FunctionVersion (Any here)
        return name

    # --- invocation ----------------------------------------------------------------------------

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        config_ = self.function_version.config
        init_line = ""
        if self._channel is None:  # first invoke after a timeout or crash: a fresh sandbox
            if self._stopped:
                raise LambdaRuntimeException("execution environment stopped")
            error = self._spawn()
            if error is not None:
                return self._result(request_id, error, True, self._read_logs(), 0.0, None)
        if self._init_ms is not None:
            init_line = f"\tInit Duration: {self._init_ms:.2f} ms"
            self._init_ms = None
        channel = self._channel
        assert channel is not None
        timeout = float(config_.timeout)
        started = time.time()
        request = {
            "request_id": request_id,
            "arn": payload.get("invoked-function-arn"),
            "payload": payload.get("payload") or "",
            "trace_id": payload.get("trace-id"),
            "deadline_ms": (started + timeout) * 1000,
        }
        response: lambda_runtime.Message | None = None
        error_payload: bytes | None = None
        with self._lock:
            self._invoking, self._crashed = True, False
        try:
            lambda_runtime.send_msg(channel, request)
            channel.settimeout(timeout)
            response = lambda_runtime.recv_msg(channel)
            channel.settimeout(None)
        except TimeoutError:
            message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            error_payload = _error_payload("Sandbox.Timedout", message)
        except OSError:
            response = None
        finally:
            with self._lock:
                self._invoking = False
        duration_ms = (time.time() - started) * 1000
        if error_payload is None and response is None:
            reason = "with error: signal: killed" if self._crashed else "without providing a reason"
            message = f"RequestId: {request_id} Error: Runtime exited {reason}"
            error_payload = _error_payload("Runtime.ExitError", message)
        if error_payload is not None or response is None:
            error_payload = error_payload or b"{}"
            self._kill_worker()
            logs = self._read_logs() + json.loads(error_payload)["errorMessage"] + "\n"
            return self._result(request_id, error_payload, True, logs, duration_ms, None, init_line)
        if self._crashed or (response.get("payload") and '"Runtime.OutOfMemory"' in response["payload"]):
            self._kill_worker()  # killed right after it answered, or out of memory: a fresh one next
        return self._result(
            request_id,
            response["payload"].encode(),
            not response["ok"],
            self._read_logs(),
            response.get("duration_ms", duration_ms),
            response.get("max_rss_mb"),
            init_line,
        )

    def _read_logs(self) -> str:
        """What the worker printed since the last read; the file is emptied afterwards."""
        if self._log_file is None:
            return ""
        self._log_file.seek(0)
        data = self._log_file.read()
        self._log_file.truncate(0)  # opened with O_APPEND by both sides: writes go to the new end
        return data.decode("utf-8", errors="replace")

    def _result(
        self,
        request_id: str,
        payload: bytes,
        is_error: bool,
        output: str,
        duration_ms: float,
        max_rss_mb: int | None,
        init_line: str = "",
    ) -> InvocationResult:
        config_ = self.function_version.config
        if output and not output.endswith("\n"):
            output += "\n"
        memory = f"\tMax Memory Used: {max_rss_mb} MB" if max_rss_mb is not None else ""
        billed_ms = max(1, math.ceil(duration_ms))
        counters.INVOCATIONS.record(self._name, memory_mb=config_.memory_size, billed_ms=billed_ms, error=is_error)
        logs = (
            f"START RequestId: {request_id} Version: {self.function_version.id.qualifier}\n"
            f"{output}"
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms"
            f"\tBilled Duration: {billed_ms} ms"
            f"\tMemory Size: {config_.memory_size} MB{memory}{init_line}\t\n"
        )
        if os.environ.get("LOCALCLOUD_LAMBDA_LOG", "1") != "0":
            for line in output.splitlines():
                LOG.info("[%s] %s", self._name, line)
            if is_error:
                LOG.info("[%s] %s -> error %s", self._name, request_id, payload[:500].decode())
        return InvocationResult(request_id, payload, is_error=is_error, logs=logs)

    # --- addresses -----------------------------------------------------------------------------

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return "localhost"

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://localhost:{port}/_localstack_lambda/{self.id}"

    def get_logs(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- versions ------------------------------------------------------------------------------

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        config_ = function_version.config
        if config_.package_type != PackageType.Zip:
            raise LambdaRuntimeException("The local cloud runs zip-packaged functions only (no container images)")
        if not (config_.runtime or "").startswith("python"):
            raise LambdaRuntimeException(f"The local cloud runs Python functions only, not runtime {config_.runtime}")
        if config_.code:
            config_.code.prepare_for_execution()
        for layer in _code_layers(config_):
            layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        python = _runtime_python()
        if not (os.path.exists(python) or shutil.which(python)):
            LOG.warning("Lambda runtime interpreter %s not found", python)
            return False
        return True
