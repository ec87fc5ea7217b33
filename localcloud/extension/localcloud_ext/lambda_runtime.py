"""Host-process runtime for Python Lambda handlers (the local cloud's stand-in for Lambda's sandbox).

Run by the local cloud's LocalStack runtime executor as ``python -I lambda_runtime.py <fd>`` with the
Lambda runtime interpreter (``.localcloud/runtime``, which has boto3 like AWS's python3.13 runtime).
It must only use the standard library: it is not importable from the runtime interpreter.

The process is a fork server ("zygote"). It pre-imports boto3 once, then, for each request on its
control socket (AF_UNIX SOCK_SEQPACKET, one JSON message with two file descriptors: the worker's
channel and its log file), forks one worker per execution environment and answers with the
worker's pid. Forking a warm interpreter makes a cold start cost milliseconds instead of the ~0.4 s
of starting Python and importing boto3; 50 concurrent cold starts stay cheap on a small machine.

A worker is one execution environment, like a Lambda sandbox: it takes the function's environment
variables, changes into the code directory, puts the code and its layers on ``sys.path`` (the code
first, then each layer's ``python/lib/pythonX.Y/site-packages`` and ``python``, as Lambda's
``/opt/python``), imports the handler once (the init phase), then serves
invocations one at a time over its channel (4-byte big-endian length + JSON) until the channel
closes. Its stdout and stderr go to the log file, which the executor reads after each invocation.
Errors are reported the way the AWS Python runtime reports them (errorType, errorMessage,
stackTrace), so Step Functions sees the exception class name as the error.
"""

import contextlib
import decimal
import importlib
import io
import json
import logging
import os
import resource
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

_HEADER = struct.Struct(">I")
# One JSON message on a channel: a request, a response, a worker's spec or an error.
Message = dict[str, Any]


def send_msg(sock: socket.socket, obj: Message) -> None:
    data = json.dumps(obj).encode()
    sock.sendall(_HEADER.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv_msg(sock: socket.socket) -> Message | None:
    header = _recv_exact(sock, _HEADER.size)
    if header is None:
        return None
    body = _recv_exact(sock, _HEADER.unpack(header)[0])
    if body is None:
        return None
    message: Message = json.loads(body)
    return message


# ---------------------------------------------------------------------------------------------
# Worker: one execution environment
# ---------------------------------------------------------------------------------------------


class LambdaContext:
    """The ``context`` argument, with the attributes and method of the AWS Python runtime's."""

    def __init__(self, request: Message, spec: Message) -> None:
        self.aws_request_id = request["request_id"]
        self.invoked_function_arn = request["arn"]
        self.function_name = spec["function_name"]
        self.function_version = spec["function_version"]
        self.memory_limit_in_mb = int(spec["memory_size"])
        self.log_group_name = spec["env"].get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = spec["env"].get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


_REQUEST_ID = _RequestIdFilter()


def _install_lambda_logging() -> None:
    """Give the root logger the handler and format the AWS Python runtime installs."""
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_REQUEST_ID)
    logging.getLogger().addHandler(handler)


def layer_paths(layer_dirs: list[str]) -> list[str]:
    """Where a function's layers put Python packages, in Lambda's order: the site-packages folders,
    then the python folders; within each, the last layer first (Lambda unzips layers into /opt in
    order, so a later layer's file replaces an earlier one's)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    kinds = (os.path.join("python", "lib", version, "site-packages"), "python")
    return [os.path.join(layer, kind) for kind in kinds for layer in reversed(layer_dirs)]


def _error(error_type: str, message: str, stack: list[str] | None = None) -> Message:
    return {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}


def _exception_error(exc: BaseException, request_id: str | None = None) -> Message:
    stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
    error = _error(type(exc).__name__, str(exc), stack)
    if request_id:
        error["requestId"] = request_id
    return error


def _log_exception(exc: BaseException, prefix: str = "") -> None:
    tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # hide the runtime's own frame
    lines = traceback.format_exception(type(exc), exc, tb)
    print(f"[ERROR] {prefix}{type(exc).__name__}: {exc}\n{''.join(lines).rstrip()}", flush=True)


def load_handler(handler: str) -> tuple[Callable[..., Any], None] | tuple[None, Message]:
    """Import the handler like the AWS Python runtime: returns (function, None) or (None, error)."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        return None, _error("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}")
    module_path = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        message = f"Unable to import module '{module_path}': {exc}"
        print(f"[ERROR] Runtime.ImportModuleError: {message}", flush=True)
        return None, _error("Runtime.ImportModuleError", message)
    except SyntaxError as exc:
        message = f"Syntax error in module '{module_path}': {exc}"
        print(f"[ERROR] Runtime.UserCodeSyntaxError: {message}", flush=True)
        return None, _error("Runtime.UserCodeSyntaxError", message)
    except Exception as exc:  # an exception raised by the module's own init code
        _log_exception(exc, "Init error: ")
        return None, _exception_error(exc)
    function = getattr(module, function_name, None)
    if function is None:
        message = f"Handler '{function_name}' missing on module '{module_path}'"
        print(f"[ERROR] Runtime.HandlerNotFound: {message}", flush=True)
        return None, _error("Runtime.HandlerNotFound", message)
    return function, None


def _json_default(obj: object) -> int | float:
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _max_rss_mb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def run_worker(spec: Message, channel_fd: int, log_fd: int) -> None:
    channel = socket.socket(fileno=channel_fd)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)

    os.environ.clear()
    os.environ.update(spec["env"])
    time.tzset()
    code_dir = spec["code_dir"]
    os.chdir(code_dir)
    sys.path[0:0] = [code_dir, *layer_paths(spec.get("layer_dirs") or [])]
    sys.argv = [os.path.join(code_dir, "bootstrap")]
    _install_lambda_logging()

    started = time.perf_counter()
    function, init_error = load_handler(spec["handler"])
    init_ms = (time.perf_counter() - started) * 1000
    _flush()
    if init_error is not None:
        send_msg(channel, {"type": "init_error", "error": init_error, "init_ms": init_ms})
        return
    assert function is not None  # load_handler gives either a function or an init error
    send_msg(channel, {"type": "ready", "init_ms": init_ms, "max_rss_mb": _max_rss_mb()})

    memory_size = int(spec["memory_size"])
    enforce_memory = bool(spec.get("enforce_memory"))
    while True:
        request = recv_msg(channel)
        if request is None:
            return
        request_id = request["request_id"]
        _REQUEST_ID.request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace_id") or ""
        started = time.perf_counter()
        response: Message
        try:
            raw = request.get("payload") or ""
            try:
                event = json.loads(raw) if raw.strip() else {}
            except ValueError as exc:
                error = _error("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}")
                response = {"ok": False, "payload": json.dumps(error)}
            else:
                result = function(event, LambdaContext(request, spec))
                try:
                    payload = json.dumps(result, default=_json_default)
                except (TypeError, ValueError) as exc:
                    error = _error("Runtime.MarshalError", f"Unable to marshal response: {exc}")
                    response = {"ok": False, "payload": json.dumps(error)}
                else:
                    response = {"ok": True, "payload": payload}
        except Exception as exc:
            _log_exception(exc)
            response = {"ok": False, "payload": json.dumps(_exception_error(exc, request_id))}
        duration_ms = (time.perf_counter() - started) * 1000
        _flush()
        max_rss = _max_rss_mb()
        response.update(duration_ms=duration_ms, max_rss_mb=max_rss)
        if enforce_memory and max_rss > memory_size:
            message = (
                f"RequestId: {request_id} Error: Runtime exited with error: signal: killed "
                f"(used {max_rss} MB of {memory_size} MB)"
            )
            response.update(ok=False, payload=json.dumps(_error("Runtime.OutOfMemory", message)))
            send_msg(channel, response)
            return
        send_msg(channel, response)


# ---------------------------------------------------------------------------------------------
# Zygote: forks workers from a warm interpreter
# ---------------------------------------------------------------------------------------------


def run_zygote(control_fd: int) -> None:
    control = socket.socket(fileno=control_fd)
    try:  # what every handler imports: pay for it once
        import boto3  # noqa: F401
        import botocore.session  # noqa: F401
    except ImportError:
        pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped automatically
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopped by its parent closing the socket
    control.send(json.dumps({"type": "ready", "pid": os.getpid(), "python": sys.version}).encode())
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(control, 1 << 20, 2)
        except OSError:
            return
        if not message:
            return  # the executor (LocalStack) went away
        try:
            spec = json.loads(message)
            channel_fd, log_fd = fds
        except (ValueError, TypeError):
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"error": "bad spawn request"}).encode())
            continue
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                control.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                run_worker(spec, channel_fd, log_fd)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                _flush()
                os._exit(code)
        os.close(channel_fd)
        os.close(log_fd)
        control.send(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    run_zygote(int(sys.argv[1]))
