"""Score a mutmut run per module, with mutants that only change a log message counted apart.

Reads what `mutmut run` (3.8.1) leaves in DIR/mutants: each source file's `.meta` (the exit code
of every mutant) and the mutated copy of the file, which holds every function twice or more:
`<name>__mutmut_orig` (the code) and `<name>__mutmut_<n>` (each mutant). A mutant that was not
killed is compared with the original function: if every difference lies in a log call's message
(its positional arguments) or in a key of its `extra={...}` dict, the mutant is *log-only*: it
changes what a log line says, nothing a caller or the workflow sees, and it does not count
against the score. Mutants listed in the equivalents file (name, the change, why no test can tell
it from the code) are not counted either; an entry whose mutant no longer makes that change, or
is killed now, is an error, so the list cannot go stale unnoticed.

    score = (killed + timeout) / (mutants - log-only survivors - listed equivalents)

Usage: python scripts/mutation_report.py [--dir .mutation] [--min-score 90] [--equivalents FILE]
Exit status: 0 when every module reaches --min-score, 1 when one does not (or the run is
incomplete, or the equivalents file is stale), 2 when there is nothing to report.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# mutmut 3.8.1's exit codes (mutmut/stats.py): what became of each mutant.
KILLED_CODES = {1, 3}
TIMEOUT_CODES = {36, 24, -24, 152, 255}
SURVIVED_CODES = {0}
NO_TESTS_CODES = {5, 33}
NOT_CHECKED = None

LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
# Fields that carry no behaviour: the expression context, type comments, and a def's own name
# (each mutant is a renamed copy of the function).
_IGNORED_FIELDS = {"ctx", "type_comment", "type_params"}

# One step from a node down to a child: (node, field name, index in the field's list or None).
Step = tuple[ast.AST, str, int | None]


@dataclass(frozen=True)
class Difference:
    """One place where a mutant differs from the original: the steps down to it, and both sides."""

    trail: tuple[Step, ...]
    original: object
    mutated: object


def differences(original: ast.AST, mutated: ast.AST) -> list[Difference]:
    """Every smallest place where two functions differ (their names aside). A difference in an
    operator or a literal's value is reported at the expression that holds it (`a + b -> a - b`)."""
    found: list[Difference] = []
    _walk_pair(original, mutated, (), found, top=True)
    return found


def _walk_pair(a: object, b: object, trail: tuple[Step, ...], found: list[Difference], *, top: bool = False) -> None:
    if isinstance(a, ast.AST) and isinstance(b, ast.AST) and type(a) is type(b):
        for name in a._fields:
            if name in _IGNORED_FIELDS or (top and name == "name"):
                continue
            x, y = getattr(a, name, None), getattr(b, name, None)
            if isinstance(x, list) and isinstance(y, list):
                if len(x) != len(y):  # an argument dropped: the difference is the node that holds the list
                    found.append(Difference(trail, a, b))
                    continue
                for i, (u, v) in enumerate(zip(x, y, strict=True)):
                    _compare(a, b, u, v, (*trail, (a, name, i)), found)
            else:
                _compare(a, b, x, y, (*trail, (a, name, None)), found)
    elif type(a) is not type(b) or (not isinstance(a, ast.AST) and a != b):
        found.append(Difference(trail, a, b))


def _compare(a: ast.AST, b: ast.AST, x: object, y: object, trail: tuple[Step, ...], found: list[Difference]) -> None:
    """Children x of a and y of b: an operator or a plain value that differs is a difference of a and b."""
    if _is_part(x) or _is_part(y):
        if type(x) is not type(y) or (not isinstance(x, ast.AST) and x != y):
            found.append(Difference(trail[:-1], a, b))
    else:
        _walk_pair(x, y, trail, found)


def _is_part(value: object) -> bool:
    """Not an expression of its own: an operator node, or a plain value (str, int, None...)."""
    return isinstance(value, ast.operator | ast.boolop | ast.cmpop | ast.unaryop) or not isinstance(
        value, ast.AST | list
    )


def is_log_call(node: ast.AST) -> bool:
    """`logger.info(...)`, `self.logger.warning(...)`: a call of a logging method on a logger."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LOG_METHODS):
        return False
    owner = node.func.value
    name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
    return name == "logger" or name.endswith("_logger")


def is_log_only(difference: Difference) -> bool:
    """The difference lies in a log call's message (a positional argument) or in a key of its extra
    dict, also of a dict kept in a variable for no other use than log calls' extra (`log = {...}`)."""
    trail = difference.trail
    for depth, (node, name, index) in enumerate(trail):
        below = trail[depth + 1 : depth + 3]
        if is_log_call(node):
            if name == "args":
                return True
            assert isinstance(node, ast.Call)
            keyword = node.keywords[index] if name == "keywords" and index is not None else None
            return (
                keyword is not None
                and keyword.arg == "extra"
                and len(below) == 2
                and below[0][1] == "value"
                and _is_key_step(below[1])
            )
        if isinstance(node, ast.Assign):
            target = node.targets[0] if len(node.targets) == 1 else None
            return (
                name == "value"
                and isinstance(target, ast.Name)
                and len(below) >= 1
                and _is_key_step(below[0])
                and _only_log_extra(trail[0][0], target.id)
            )
    return False


def _is_key_step(step: Step) -> bool:
    return isinstance(step[0], ast.Dict) and step[1] == "keys"


def _only_log_extra(function: ast.AST, name: str) -> bool:
    """Every read of the variable `name` in function is a log call's extra, or spread into one (`{**name}`)."""
    parents = {child: node for node in ast.walk(function) for child in ast.iter_child_nodes(node)}
    reads = [n for n in ast.walk(function) if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)]
    return bool(reads) and all(_is_extra(read, parents) for read in reads)


def _is_extra(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    parent = parents.get(node)
    if isinstance(parent, ast.Dict) and any(
        k is None and v is node for k, v in zip(parent.keys, parent.values, strict=True)
    ):
        node, parent = parent, parents.get(parent)
    return isinstance(parent, ast.keyword) and parent.arg == "extra" and is_log_call(parents.get(parent, parent))


def classify(original: ast.AST, mutated: ast.AST) -> tuple[bool, list[Difference]]:
    """(log-only, the differences) for a mutant of a function."""
    found = differences(original, mutated)
    return bool(found) and all(is_log_only(d) for d in found), found


def describe(difference: Difference, line_offset: int = 0) -> str:
    """`line N: <original> -> <mutated>`, cut to the part that changed."""
    node = difference.original if isinstance(difference.original, ast.AST) else difference.trail[-1][0]
    line = getattr(node, "lineno", None) or next(
        (getattr(n, "lineno", 0) for n, _, _ in reversed(difference.trail) if hasattr(n, "lineno")), 0
    )
    before, after = _trimmed(_text(difference.original), _text(difference.mutated))
    return f"line {line + line_offset}: {before} -> {after}"


def _text(value: object) -> str:
    return " ".join((ast.unparse(value) if isinstance(value, ast.AST) else repr(value)).split())


def _trimmed(before: str, after: str, *, limit: int = 60, context: int = 20) -> tuple[str, str]:
    """Both texts, or when long, only what differs with some context on either side."""
    if max(len(before), len(after)) <= limit:
        return before, after
    head = 0
    while head < min(len(before), len(after)) and before[head] == after[head]:
        head += 1
    tail = 0
    while tail < min(len(before), len(after)) - head and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    cut_head, cut_tail = max(0, head - context), max(0, tail - context)

    def part(text: str) -> str:
        middle = text[cut_head : len(text) - cut_tail]
        return ("..." if cut_head else "") + middle + ("..." if cut_tail else "")

    return part(before), part(after)


# Reading a run.


@dataclass
class ModuleScore:
    module: str
    total: int = 0
    killed: int = 0
    timeout: int = 0
    survived: list[str] = field(default_factory=list)  # not killed, not log-only, not listed equivalent
    no_tests: int = 0
    not_checked: int = 0
    other: int = 0  # suspicious, segfault, skipped, caught by the type checker
    log_only: int = 0
    equivalent: int = 0

    @property
    def counted(self) -> int:
        return self.total - self.log_only - self.equivalent

    @property
    def score(self) -> float:
        return 100.0 * (self.killed + self.timeout) / self.counted if self.counted else 100.0


@dataclass(frozen=True)
class Equivalent:
    name: str
    change: str
    reason: str


def read_equivalents(path: Path | None) -> dict[str, Equivalent]:
    """`name | change | reason` lines; # starts a comment."""
    if path is None or not path.exists():
        return {}
    entries: dict[str, Equivalent] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split(" | ")]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"{path}:{number}: expected `mutant name | change | reason`, got {raw!r}")
        entries[parts[0]] = Equivalent(*parts)
    return entries


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    """Module-level functions and methods of module-level classes, by name (mutmut's layout)."""
    found: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            found.update({n.name: n for n in node.body if isinstance(n, ast.FunctionDef)})
    return found


def _original_name(mutant_function: str) -> str:
    """xǁPollerǁrun__mutmut_3 -> run; x_decide__mutmut_3 -> decide."""
    mangled = mutant_function.partition("__mutmut_")[0]
    return mangled.rpartition("ǁ")[2] if "ǁ" in mangled else mangled.removeprefix("x_")


@dataclass
class Finding:
    name: str
    status: str  # survived | no tests | log-only | equivalent
    change: str


def score_file(
    meta_path: Path, mutated_path: Path, source_path: Path, module: str, equivalents: dict[str, Equivalent]
) -> tuple[ModuleScore, list[Finding], list[str]]:
    """The score of one source file, what was not killed, and the errors of the equivalents file."""
    codes: dict[str, int | None] = json.loads(meta_path.read_text(encoding="utf-8"))["exit_code_by_key"]
    score, findings, errors = ModuleScore(module), [], []
    functions = _functions(ast.parse(mutated_path.read_text(encoding="utf-8")))
    originals = _functions(ast.parse(source_path.read_text(encoding="utf-8"))) if source_path.exists() else {}
    for name, code in sorted(codes.items()):
        score.total += 1
        listed = equivalents.get(name)
        if code in KILLED_CODES or code in TIMEOUT_CODES:
            score.killed += code in KILLED_CODES
            score.timeout += code in TIMEOUT_CODES
            if listed:
                errors.append(f"{name} is listed as equivalent but was killed: remove it from the list")
            continue
        if code is NOT_CHECKED:
            score.not_checked += 1
            continue
        if code not in SURVIVED_CODES and code not in NO_TESTS_CODES:
            score.other += 1
            continue
        function = name.rpartition(".")[2]
        mutant, orig = functions[function], functions[function.partition("__mutmut_")[0] + "__mutmut_orig"]
        log_only, found = classify(orig, mutant)
        source_function = originals.get(_original_name(function))
        offset = source_function.lineno - orig.lineno if source_function else 0
        change = "; ".join(describe(d, offset) for d in found) or "no difference"
        if log_only:
            score.log_only += 1
            findings.append(Finding(name, "log-only", change))
        elif listed:
            if listed.change != change:
                errors.append(f"{name} is listed as equivalent for `{listed.change}` but now makes `{change}`")
                score.survived.append(name)
                findings.append(Finding(name, "survived", change))
            else:
                score.equivalent += 1
                findings.append(Finding(name, "equivalent", f"{change} ({listed.reason})"))
        else:
            score.survived.append(name)
            if code in NO_TESTS_CODES:
                score.no_tests += 1
            findings.append(Finding(name, "no tests" if code in NO_TESTS_CODES else "survived", change))
    return score, findings, errors


def scan(root: Path, equivalents: dict[str, Equivalent]) -> tuple[list[ModuleScore], list[Finding], list[str]]:
    """Every mutated source file under root/mutants (root is where mutmut ran)."""
    scores, findings, errors, names = [], [], [], set()
    for meta_path in sorted((root / "mutants").rglob("*.py.meta")):
        relative = meta_path.relative_to(root / "mutants").with_suffix("")  # src/poller/service.py
        module = ".".join(relative.with_suffix("").parts).removeprefix("src.")
        names |= set(json.loads(meta_path.read_text(encoding="utf-8"))["exit_code_by_key"])
        score, found, errs = score_file(meta_path, root / "mutants" / relative, root / relative, module, equivalents)
        if score.total:
            scores.append(score)
            findings += found
            errors += errs
    errors += [
        f"{name} is listed as equivalent but is no mutant of this run" for name in equivalents if name not in names
    ]
    return scores, findings, errors


def table(scores: Sequence[ModuleScore], min_score: float) -> str:
    header = ("module", "mutants", "killed", "timeout", "survived", "no tests", "log-only", "equivalent", "score", "")
    rows = [header]
    total = ModuleScore("total")
    for s in scores:
        rows.append(_row(s, min_score))
        for name in ("total", "killed", "timeout", "no_tests", "log_only", "equivalent", "not_checked", "other"):
            setattr(total, name, getattr(total, name) + getattr(s, name))
        total.survived += s.survived
    rows.append(_row(total, None))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def _row(s: ModuleScore, min_score: float | None) -> tuple[str, ...]:
    mark = f"< {min_score:g}%" if min_score is not None and s.score < min_score else ""
    survived = len(s.survived) - s.no_tests
    return (
        s.module,
        str(s.total),
        str(s.killed),
        str(s.timeout),
        str(survived),
        str(s.no_tests),
        str(s.log_only),
        str(s.equivalent),
        f"{s.score:.1f}%",
        mark,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(".mutation"), help="where mutmut ran (holds mutants/)")
    parser.add_argument("--min-score", type=float, default=90.0, help="the lowest score a module may have (percent)")
    parser.add_argument("--equivalents", type=Path, help="the list of equivalent mutants (name | change | reason)")
    parser.add_argument("--show", choices=("survived", "all"), default="survived", help="which mutants to list")
    args = parser.parse_args(argv)

    scores, findings, errors = scan(args.dir, read_equivalents(args.equivalents))
    if not scores:
        print(f"no mutmut results under {args.dir / 'mutants'}: run `make mutation`", file=sys.stderr)
        return 2
    shown = [f for f in findings if args.show == "all" or f.status in ("survived", "no tests")]
    for finding in shown:
        print(f"{finding.status:>10}  {finding.name}\n            {finding.change}")
    if shown:
        print()
    print(table(scores, args.min_score))
    incomplete = sum(s.not_checked for s in scores)
    low = [s.module for s in scores if s.score < args.min_score]
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if incomplete:
        print(f"error: {incomplete} mutants were not checked: the run did not finish", file=sys.stderr)
    if low:
        print(f"below {args.min_score:g}%: {', '.join(low)}", file=sys.stderr)
    return 1 if low or errors or incomplete else 0


if __name__ == "__main__":
    sys.exit(main())
