"""Start, stop and inspect the local cloud (LocalStack's open-source core on the host).

Standard library only: this runs from the app's virtualenv, LocalStack from its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud import provision as prov

DEFAULT_PORT = 4566
LOCALSTACK_VERSION = "2026.3.0"
ENTRY_MODULE = "localstack.runtime.main"
LOG_ROTATE_BYTES = 50 * 1024 * 1024  # at start, a bigger log moves to localcloud.log.1
Echo = Callable[[str], None]
StrPath = str | os.PathLike[str]
JsonObject = dict[str, Any]  # a decoded JSON object, as the local cloud's endpoints answer


class LocalCloudError(RuntimeError):
    """The local cloud could not do what was asked; the message says why."""


class PortInUseError(LocalCloudError):
    pass


def _quiet(_message: str) -> None:
    pass


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Where the local cloud lives. ``home`` holds what provisioning built (shared by instances),
    ``state_dir`` one running instance (pid file, log, LocalStack's filesystem, scheduler counts)."""

    home: Path
    state_dir: Path
    port: int = DEFAULT_PORT
    clock_speed: float = 1.0

    @classmethod
    def resolve(
        cls,
        *,
        home: StrPath | None = None,
        state_dir: StrPath | None = None,
        port: int | None = None,
        clock_speed: float | None = None,
    ) -> Settings:
        home_path = Path(home or os.environ.get("LOCALCLOUD_HOME") or prov.REPO_ROOT / ".localcloud").absolute()
        state = Path(state_dir or os.environ.get("LOCALCLOUD_STATE_DIR") or home_path / "state").absolute()
        if port is None:
            port = int(os.environ.get("LOCALCLOUD_PORT") or DEFAULT_PORT)
        if clock_speed is None:
            clock_speed = float(os.environ.get("LOCALCLOUD_CLOCK_SPEED") or 1)
        if clock_speed <= 0:
            raise LocalCloudError(f"clock speed must be > 0, got {clock_speed}")
        if not 0 < port < 65536:
            raise LocalCloudError(f"invalid port {port}")
        return cls(home=home_path, state_dir=state, port=port, clock_speed=clock_speed)

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "localcloud.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "localcloud.log"

    @property
    def fs_root(self) -> Path:
        return self.state_dir / "fs"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Instance:
    """A running local cloud, as recorded in its pid file."""

    pid: int
    port: int
    clock_speed: float
    state_dir: Path
    log_file: Path
    started_at: str
    already_running: bool = False

    @property
    def endpoint(self) -> str:
        return f"http://localhost:{self.port}"


# --- processes -------------------------------------------------------------------------------


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _proc_cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        pass
    try:
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() or None


def _alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except OSError:
        pass
    return True


def _is_ours(pid: int) -> bool:
    cmdline = _proc_cmdline(pid)
    return _alive(pid) and cmdline is not None and ENTRY_MODULE in cmdline


def _descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (Linux /proc; empty elsewhere). LocalStack starts some helpers
    (DynamoDB Local's JVM) in sessions of their own, so the process group alone misses them."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _orphans(settings: Settings) -> list[int]:
    """Helpers left by a crashed instance of this state dir: DynamoDB Local's JVM, recognised by
    the agent jar under this state dir's filesystem root on its command line."""
    marker = f"-javaagent:{settings.fs_root}/"
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = entry.joinpath("cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


# --- pid file --------------------------------------------------------------------------------


def _read_instance(settings: Settings) -> Instance | None:
    try:
        data = json.loads(settings.pid_file.read_text())
        return Instance(
            pid=int(data["pid"]),
            port=int(data["port"]),
            clock_speed=float(data.get("clock_speed", 1)),
            state_dir=Path(data.get("state_dir", settings.state_dir)),
            log_file=Path(data.get("log_file", settings.log_file)),
            started_at=data.get("started_at", ""),
        )
    except (OSError, ValueError, KeyError):
        return None


def _write_instance(
    settings: Settings,
    pid: int,
    port: int | None = None,
    clock_speed: float | None = None,
    started_at: str | None = None,
) -> Instance:
    instance = Instance(
        pid=pid,
        port=port or settings.port,
        clock_speed=clock_speed or settings.clock_speed,
        state_dir=settings.state_dir,
        log_file=settings.log_file,
        started_at=started_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    data = dataclasses.asdict(instance)
    data.pop("already_running")
    data.update(state_dir=str(instance.state_dir), log_file=str(instance.log_file))
    data["endpoint"] = instance.endpoint
    tmp = settings.pid_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(settings.pid_file)
    return instance


def running_instance(settings: Settings) -> Instance | None:
    """The instance of this state dir if its process is alive, else None."""
    instance = _read_instance(settings)
    if instance is not None and _is_ours(instance.pid):
        return instance
    return None


# --- HTTP ------------------------------------------------------------------------------------


def http_json(url: str, timeout: float = 2.0) -> JsonObject | None:
    """GET ``url`` and decode JSON; None when nothing answers or the answer is not 200 JSON."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if response.status != 200:
                return None
            answer: JsonObject = json.loads(response.read())
            return answer
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _post_clock_speed(endpoint_url: str, speed: float) -> None:
    request = urllib.request.Request(
        f"{endpoint_url}/_localcloud/clock",
        data=json.dumps({"speed": speed}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5):
            pass
    except (OSError, urllib.error.URLError) as exc:
        raise LocalCloudError(f"could not change the clock speed at {endpoint_url}: {exc}") from exc


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # like the server will: connections of a stopped server in TIME_WAIT must not count
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _who_uses(port: int) -> str:
    info = http_json(f"http://127.0.0.1:{port}/_localcloud/info")
    if info is not None:
        return f"another local cloud (state dir {info.get('stateDir')}, pid {info.get('pid')})"
    if http_json(f"http://127.0.0.1:{port}/_localstack/health") is not None:
        return "a LocalStack that this local cloud did not start (docker compose? `localstack start`?)"
    return "another program"


# --- start / stop ----------------------------------------------------------------------------


# A line per request LocalStack answers, and EventBridge's "No rules attached" per execution event:
# most of the log and ~6% of LocalStack's CPU under load (localcloud_ext/request_log.py).
QUIET_LOGGERS = ("localstack.request.aws", "localstack.request.http", "localstack.services.events.provider")


def log_level_overrides(*, request_log: bool, user_overrides: str = "") -> str:
    """LocalStack's ``LOG_LEVEL_OVERRIDES``: the request loggers at WARNING unless ``request_log``
    (``LOCALCLOUD_REQUEST_LOG=1``), then the user's own overrides, which win."""
    ours = [] if request_log else [f"{name}=WARNING" for name in QUIET_LOGGERS]
    return ",".join([*ours, *([user_overrides] if user_overrides else [])])


def _localstack_env(settings: Settings, paths: dict[str, Path]) -> dict[str, str]:
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    env = {key: value for key, value in os.environ.items() if key not in dropped and not key.startswith("AWS_")}
    venv_bin = paths["venv"] / "bin"
    env.update(
        PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        GATEWAY_LISTEN=f"127.0.0.1:{settings.port}",
        LOCALSTACK_HOST=f"localhost:{settings.port}",
        OVERRIDE_IN_DOCKER="0",  # some machines have /.dockerenv; we run on the host
        FILESYSTEM_ROOT=str(settings.fs_root),
        TMPDIR=str(settings.state_dir / "tmp"),
        DISABLE_EVENTS="1",  # no analytics calls
        DNS_ADDRESS="0",  # no DNS server (would want port 53)
        SKIP_SSL_CERT_DOWNLOAD="1",
        PERSISTENCE="0",
        LAMBDA_RUNTIME_EXECUTOR="localcloud",
        # LocalStack's own calls (Step Functions invoking a task, history to CloudWatch Logs, Lambda's
        # metrics) go straight to its gateway's handler chain instead of over HTTP to itself: the
        # same handlers and counters, a fraction of the CPU of the one process they all share.
        IN_MEMORY_CLIENT="1",
        # AWS's task-token/StopExecution behaviour; "default" runs LocalStack's provider as shipped
        PROVIDER_OVERRIDE_STEPFUNCTIONS=os.environ.get("LOCALCLOUD_STEPFUNCTIONS_PROVIDER") or "localcloud",
        LOCALCLOUD_LAMBDA_PYTHON=str(paths["runtime"] / "bin" / "python"),
        LOCALCLOUD_CLOCK_SPEED=repr(settings.clock_speed),
        LOCALCLOUD_STATE_DIR=str(settings.state_dir),
    )
    env["LOG_LEVEL_OVERRIDES"] = log_level_overrides(
        request_log=os.environ.get("LOCALCLOUD_REQUEST_LOG", "") == "1",
        user_overrides=os.environ.get("LOG_LEVEL_OVERRIDES", ""),
    )
    quota = os.environ.get("LOCALCLOUD_LAMBDA_CONCURRENCY")
    if quota:  # the account's concurrency quota: invocations past it are throttled, as on AWS
        env.update(LAMBDA_LIMITS_CONCURRENT_EXECUTIONS=quota, LAMBDA_LIMITS_MINIMUM_UNRESERVED_CONCURRENCY="0")
    return env


def _prepare_state_dir(settings: Settings, lib: Path) -> None:
    (settings.state_dir / "tmp").mkdir(parents=True, exist_ok=True)
    (settings.state_dir / "scheduler.json").unlink(missing_ok=True)  # counts are per run
    var = settings.fs_root / "var" / "lib" / "localstack"
    var.mkdir(parents=True, exist_ok=True)
    link = var / "lib"
    if link.is_symlink() and link.resolve() == lib.resolve():
        return
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        shutil.rmtree(link)
    link.symlink_to(lib, target_is_directory=True)


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(
    *,
    port: int | None = None,
    clock_speed: float | None = None,
    state_dir: StrPath | None = None,
    home: StrPath | None = None,
    timeout: float = 120.0,
    echo: Echo | None = None,
) -> Instance:
    """Start the local cloud in the background (provisioning it first if needed) and wait until it
    is healthy. If this state dir's instance already runs, return it (``already_running=True``).
    Raises PortInUseError when something else holds the port, LocalCloudError when it fails."""
    echo = echo or _quiet
    settings = Settings.resolve(home=home, state_dir=state_dir, port=port, clock_speed=clock_speed)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with prov.file_lock(settings.state_dir / ".lock"):
        existing = running_instance(settings)
        if existing is not None:
            if port is not None and port != existing.port:
                raise LocalCloudError(
                    f"The local cloud of {settings.state_dir} already runs on port {existing.port}; "
                    f"stop it first to use port {port}, or use another --state-dir."
                )
            if clock_speed is not None and clock_speed != existing.clock_speed:
                _post_clock_speed(existing.endpoint, clock_speed)
                _write_instance(settings, existing.pid, existing.port, clock_speed, existing.started_at)
                echo(f"Clock speed changed from {existing.clock_speed:g}x to {clock_speed:g}x")
                existing = dataclasses.replace(existing, clock_speed=clock_speed)
            return dataclasses.replace(existing, already_running=True)
        if settings.pid_file.exists():
            _cleanup_stale(settings)
        if not _port_free(settings.port):
            raise PortInUseError(
                f"Port {settings.port} is already in use by {_who_uses(settings.port)}. "
                "Stop it, or choose another port (--port / LOCALCLOUD_PORT)."
            )
        paths = prov.provision(settings.home, echo)
        _prepare_state_dir(settings, paths["lib"])
        echo(f"Starting LocalStack {LOCALSTACK_VERSION} on 127.0.0.1:{settings.port} ...")
        started = time.monotonic()
        if settings.log_file.exists() and settings.log_file.stat().st_size > LOG_ROTATE_BYTES:
            settings.log_file.replace(settings.log_file.with_suffix(".log.1"))
        with open(settings.log_file, "ab") as log:
            stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            log.write(f"\n===== localcloud start {stamp} port {settings.port} =====\n".encode())
            log.flush()
            process = subprocess.Popen(
                [str(paths["venv"] / "bin" / "python"), "-m", ENTRY_MODULE],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_localstack_env(settings, paths),
                cwd=settings.state_dir,
                start_new_session=True,  # its own process group: `stop` ends exactly that
            )
        instance = _write_instance(settings, process.pid)
        try:
            _wait_ready(settings, process, timeout)
        except BaseException:
            _terminate(settings, instance, timeout=10)
            raise
        echo(f"Local cloud ready in {time.monotonic() - started:.1f} s at {instance.endpoint}")
        return instance


def _wait_ready(settings: Settings, process: subprocess.Popen[bytes], timeout: float) -> None:
    base = f"http://127.0.0.1:{settings.port}"
    deadline = time.monotonic() + timeout
    healthy_since = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalCloudError(
                f"LocalStack exited with code {process.returncode} while starting; "
                f"last lines of {settings.log_file}:\n{_log_tail(settings.log_file)}"
            )
        if http_json(f"{base}/_localcloud/scheduler", timeout=1) is not None:
            return
        if http_json(f"{base}/_localstack/health", timeout=1) is not None:
            healthy_since = healthy_since or time.monotonic()
            if time.monotonic() - healthy_since > 20:
                raise LocalCloudError(
                    "LocalStack is up but the local cloud's extension did not load "
                    f"(no /_localcloud endpoints); see {settings.log_file}"
                )
        time.sleep(0.2)
    raise LocalCloudError(
        f"LocalStack was not ready after {timeout:.0f} s; last lines of {settings.log_file}:\n"
        f"{_log_tail(settings.log_file)}"
    )


def _cleanup_stale(settings: Settings) -> None:
    _signal(_orphans(settings), signal.SIGKILL)
    settings.pid_file.unlink(missing_ok=True)


def _terminate(settings: Settings, instance: Instance, timeout: float) -> None:
    pid = instance.pid
    if _is_ours(pid):
        helpers = _descendants(pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)  # LocalStack shuts its services down on SIGTERM
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # whatever is left of the group (Lambda workers)
        _signal([p for p in helpers if _alive(p)], signal.SIGKILL)
        _reap(pid)
    _signal(_orphans(settings), signal.SIGKILL)
    settings.pid_file.unlink(missing_ok=True)


def ensure_started(**kwargs: Any) -> bool:
    """Start the local cloud unless it already runs (same arguments as ``start``, progress printed).
    Returns True when this call started it (so the caller knows to stop it)."""
    kwargs.setdefault("echo", print)
    return not start(**kwargs).already_running


def stop(
    *,
    state_dir: StrPath | None = None,
    home: StrPath | None = None,
    timeout: float = 30.0,
) -> bool:
    """Stop this state dir's local cloud; True if one was running. Only its own processes are
    signalled: the process group it was started in, and that group's descendants."""
    settings = Settings.resolve(home=home, state_dir=state_dir)
    if not settings.state_dir.exists():
        return False
    with prov.file_lock(settings.state_dir / ".lock"):
        instance = _read_instance(settings)
        if instance is None or not _is_ours(instance.pid):
            if settings.pid_file.exists():
                _cleanup_stale(settings)
            return False
        _terminate(settings, instance, timeout)
        return True


def is_running(*, state_dir: StrPath | None = None) -> bool:
    return running_instance(Settings.resolve(state_dir=state_dir)) is not None


def endpoint(*, state_dir: StrPath | None = None) -> str | None:
    """The running instance's endpoint URL, or None."""
    instance = running_instance(Settings.resolve(state_dir=state_dir))
    return instance.endpoint if instance else None


def status(*, state_dir: StrPath | None = None) -> JsonObject:
    """Whether it runs, with LocalStack's services health and the scheduler's firing counts."""
    settings = Settings.resolve(state_dir=state_dir)
    instance = running_instance(settings)
    if instance is None:
        return {"running": False, "stateDir": str(settings.state_dir)}
    base = f"http://127.0.0.1:{instance.port}"
    health = http_json(f"{base}/_localstack/health") or {}
    return {
        "running": True,
        "pid": instance.pid,
        "endpoint": instance.endpoint,
        "clockSpeed": instance.clock_speed,
        "startedAt": instance.started_at,
        "stateDir": str(instance.state_dir),
        "logFile": str(instance.log_file),
        "healthy": bool(health),
        "version": health.get("version"),
        "services": health.get("services", {}),
        "scheduler": http_json(f"{base}/_localcloud/scheduler"),
    }


def scheduler_stats(endpoint_url: str | None = None) -> JsonObject:
    """Scheduler firing counts (per schedule ARN) of a running local cloud."""
    endpoint_url = endpoint_url or endpoint() or f"http://localhost:{DEFAULT_PORT}"
    stats = http_json(f"{endpoint_url.rstrip('/')}/_localcloud/scheduler")
    if stats is None:
        raise LocalCloudError(f"no local cloud scheduler answers at {endpoint_url}")
    return stats


def counters(endpoint_url: str | None = None, *, reset: bool = False) -> JsonObject:
    """Request counts (by service, operation, resource; external and internal) and Lambda
    invocations (by function: count, errors, billed ms, memory) of a running local cloud since its
    start or the last reset. ``reset=True`` returns the counts and clears them in one step."""
    endpoint_url = (endpoint_url or endpoint() or f"http://localhost:{DEFAULT_PORT}").rstrip("/")
    data: JsonObject | None
    if not reset:
        data = http_json(f"{endpoint_url}/_localcloud/counters", timeout=10)
    else:
        request = urllib.request.Request(f"{endpoint_url}/_localcloud/counters/reset", data=b"", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                data = json.loads(response.read())
        except (OSError, ValueError, urllib.error.URLError):
            data = None
    if data is None:
        raise LocalCloudError(f"no local cloud counters answer at {endpoint_url} (is it a local cloud, started here?)")
    return data


def kill_lambda(function_name: str, endpoint_url: str | None = None, *, wait_seconds: float = 0.0) -> JsonObject:
    """Fault injection: SIGKILL the worker processes running invocations of ``function_name``
    (name or ARN) on a running local cloud, like crashed Lambda sandboxes; those invocations end
    with ``Runtime.ExitError``. ``wait_seconds``: wait up to that long for one to be in flight.
    Returns ``{"functionName", "killed": n, "pids": [...]}``."""
    endpoint_url = (endpoint_url or endpoint() or f"http://localhost:{DEFAULT_PORT}").rstrip("/")
    request = urllib.request.Request(
        f"{endpoint_url}/_localcloud/lambda/kill",
        data=json.dumps({"functionName": function_name, "waitSeconds": wait_seconds}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=wait_seconds + 10) as response:
            killed: JsonObject = json.loads(response.read())
            return killed
    except urllib.error.HTTPError as exc:
        raise LocalCloudError(f"kill_lambda({function_name!r}) failed: {exc.read().decode(errors='replace')}") from exc
    except (OSError, ValueError, urllib.error.URLError) as exc:
        raise LocalCloudError(f"no local cloud answers at {endpoint_url}: {exc}") from exc


def cdklocal_env(endpoint_url: str | None = None) -> dict[str, str]:
    """Environment variables for cdklocal (and any AWS SDK/CLI) to target the local cloud."""
    url = endpoint_url or f"http://localhost:{DEFAULT_PORT}"
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ENDPOINT_URL_S3": url,
        "AWS_S3_FORCE_PATH_STYLE": "1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
