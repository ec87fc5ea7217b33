"""How results reach people and scripts: JSON with one key style, colour only on a terminal,
progress bars on stderr only on a terminal, warnings and errors as one line on stderr."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
STATUS_STYLE = {"SUCCEEDED": "green", "FAILED": "red", "TIMED_OUT": "red", "ABORTED": "yellow", "RUNNING": "cyan"}
SIGNIFICANT_DIGITS = 12  # 0.2 / 1e6 prints as 2e-07, not 2.0000000000000002e-07


# --------------------------------------------------------------------------- JSON


def camel(key: str) -> str:
    """``snake_case`` -> ``camelCase``; any other key (an ARN, a status like MAX_ATTEMPTS) is kept."""
    if not _SNAKE.fullmatch(key):
        return key
    first, *rest = key.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _number(value: float) -> float | None:
    if not math.isfinite(value):
        return None
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def jsonable(value: Any) -> Any:
    """Plain JSON data: camelCase keys (the AWS APIs' style), numbers as numbers, dates as ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {camel(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else _number(float(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_json(value: Any, *, indent: int | None = 2) -> str:
    return json.dumps(jsonable(value), indent=indent, allow_nan=False)


def emit(as_json: bool, data: Any, text: str | Callable[[], str]) -> None:
    """Print ``data`` as JSON, or the human text (a string, or a function that makes it)."""
    print(to_json(data) if as_json else (text() if callable(text) else text))


# --------------------------------------------------------------------------- colour


def colour_enabled(stream: TextIO | None = None) -> bool:
    """Colour on a terminal only; never with NO_COLOR set (https://no-color.org) or TERM=dumb."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def paint(text: str, style: str | None, stream: TextIO | None = None) -> str:
    if not style or not colour_enabled(stream):
        return text
    return f"\033[{_STYLES[style]}m{text}\033[0m"


def warn(message: str) -> None:
    print(paint("callbackctl: warning: ", "yellow", sys.stderr) + message, file=sys.stderr, flush=True)


def error(message: str, prog: str = "callbackctl") -> None:
    print(paint(f"{prog}: error: ", "red", sys.stderr) + message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- progress


class Bar:
    """One progress bar row; does nothing when stderr is not a terminal."""

    def __init__(self, progress: Any = None, task: Any = None) -> None:
        self._progress, self._task = progress, task

    def __call__(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def set(self, completed: int, note: str = "") -> None:
        if self._progress is not None:
            fields = {"note": note} if note else {}
            self._progress.update(self._task, completed=completed, **fields)


Tasks = Callable[[str, int | None], Bar]  # (description, total or None for a counter) -> Bar


@contextmanager
def progress() -> Iterator[Tasks]:
    """Progress bars on stderr while the block runs, one row per task; nothing when not a terminal."""
    if not sys.stderr.isatty():
        yield lambda _description, _total: Bar()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bars:
        yield lambda description, total: Bar(bars, bars.add_task(description, total=total, note=""))
