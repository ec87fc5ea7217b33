"""callbackctl stays small packages with one job each: files under ~400 lines, functions under ~60, no
import circles, and no module reaching into another one's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "callbackctl"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def imports(path: Path) -> dict[str, set[str]]:
    """Module-level ``from callbackctl.x import a, b`` -> {"callbackctl.x": {"a", "b"}} (lazy imports too)."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("callbackctl"):
            found.setdefault(node.module, set()).update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("callbackctl"):
                    found.setdefault(alias.name, set())
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_stay_small(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_FILE_LINES


def test_functions_stay_short() -> None:
    long = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in MODULES
        for node in ast.walk(tree(path))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_no_private_names_cross_modules() -> None:
    private = [
        f"{module_name(path)} imports {name} from {source}"
        for path in MODULES
        for source, names in imports(path).items()
        for name in names
        if name.startswith("_") and not name.endswith("__") and source != module_name(path)
    ]
    assert private == []


def test_no_import_circles() -> None:
    known = {module_name(p) for p in MODULES}
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        edges = set()
        for source, names in imports(path).items():
            # `from callbackctl.cost import cli` imports the submodule cost.cli, not the package's facade
            submodules = {f"{source}.{n}" for n in names if f"{source}.{n}" in known}
            edges |= submodules or {source}
        graph[module_name(path)] = {e for e in edges if e in known and e != module_name(path)}
    # A package's __init__ re-exporting its own modules is not a circle: leave those edges out.
    for name, edges in graph.items():
        graph[name] = {e for e in edges if not name.startswith(e + ".")}

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    return [*path, start]
                if nxt not in path:
                    stack.append((nxt, [*path, nxt]))
        return None

    circles = [c for name in sorted(graph) if (c := cycle_from(name))]
    assert circles == []
