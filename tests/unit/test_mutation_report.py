"""scripts/mutation_report.py: which surviving mutants only change a log message, and the score per
module it computes from a mutmut run (a small run laid out the way mutmut 3.8.1 leaves it)."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mutation_report.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_report", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


report = _load()

ORIGINAL = """
def handle(job_id, err, created):
    logger.info("job started" if created else "job found", extra={"jobId": job_id, "error": str(err)})
    logger.warning("claim lapsed", extra={**base(job_id), "step": "release"})
    print("done")
    if not job_id:
        raise ValueError("jobId is missing")
    return {"jobId": job_id}
"""


def _log_only(original: str, mutated: str) -> bool:
    log_only, found = report.classify(_function(original), _function(mutated))
    assert found, "the two functions do not differ"
    return log_only


def _function(source: str) -> ast.FunctionDef:
    node = ast.parse(textwrap.dedent(source)).body[0]
    assert isinstance(node, ast.FunctionDef)
    return node


@pytest.mark.parametrize(
    ("change", "replacement"),
    [
        ('"job started"', '"XXjob startedXX"'),  # the message text
        ('"job found"', '"JOB FOUND"'),
        ('"job started" if created else', '"job started" if (created) and False else'),  # which message
        ('"job started" if created else "job found"', "None"),  # the message replaced
        ('{"jobId": job_id,', '{"XXjobIdXX": job_id,'),  # a key of extra
        ('"step": "release"}', '"STEP": "release"}'),  # a key after a ** entry
        ('"claim lapsed"', '"Claim Lapsed"'),
    ],
)
def test_a_change_of_a_log_message_or_an_extra_key_is_log_only(change: str, replacement: str) -> None:
    assert change in ORIGINAL
    assert _log_only(ORIGINAL, ORIGINAL.replace(change, replacement, 1))


@pytest.mark.parametrize(
    ("change", "replacement"),
    [
        ('"jobId": job_id,', '"jobId": None,'),  # a value of extra: what the line says about the job
        ("str(err)", "str(None)"),
        ('"step": "release"', '"step": "XXreleaseXX"'),
        (', extra={"jobId": job_id, "error": str(err)})', ")"),  # the extra argument dropped
        ("**base(job_id)", "**base(None)"),
        ('print("done")', 'print("XXdoneXX")'),  # not a logger
        ('ValueError("jobId is missing")', 'ValueError("XXjobId is missingXX")'),  # an error message: callers see it
        ("if not job_id:", "if job_id:"),
        ('{"jobId": job_id}', '{"XXjobIdXX": job_id}'),  # a key the caller reads
    ],
)
def test_any_other_change_counts(change: str, replacement: str) -> None:
    assert change in ORIGINAL
    assert not _log_only(ORIGINAL, ORIGINAL.replace(change, replacement, 1))


def test_a_mutant_is_log_only_only_if_every_difference_is() -> None:
    mutated = ORIGINAL.replace('"job found"', '"XX"').replace("if not job_id", "if job_id")
    assert not _log_only(ORIGINAL, mutated)


def test_a_logger_reached_through_an_attribute_counts_as_a_logger() -> None:
    original = 'def f(self):\n    self.logger.error("boom", extra={"k": 1})\n'
    assert _log_only(original, original.replace('"boom"', '"BOOM"'))
    assert _log_only(original, original.replace('"k"', '"XXkXX"'))
    assert not _log_only(original, original.replace("1}", "2}"))


def test_the_function_name_is_no_difference() -> None:
    original = _function("def x_f__mutmut_orig(a):\n    return a + 1\n")
    assert report.differences(original, _function("def x_f__mutmut_1(a):\n    return a + 1\n")) == []
    [difference] = report.differences(original, _function("def x_f__mutmut_2(a):\n    return a - 1\n"))
    assert report.describe(difference) == "line 2: a + 1 -> a - 1"  # the expression that holds the operator


@pytest.mark.parametrize(
    ("original", "mutated", "shown"),
    [
        ("return a < b", "return a <= b", "a < b -> a <= b"),
        ("return a and b", "return a or b", "a and b -> a or b"),
        ("return not a", "return a", "not a -> a"),
        ("return f(a, b)", "return f(b)", "f(a, b) -> f(b)"),
        ("return 'x'", "return 'XXxXX'", "'x' -> 'XXxXX'"),
    ],
)
def test_a_change_is_shown_as_the_expression_that_holds_it(original: str, mutated: str, shown: str) -> None:
    [difference] = report.differences(
        _function(f"def f(a, b):\n    {original}\n"), _function(f"def f(a, b):\n    {mutated}\n")
    )
    assert report.describe(difference) == f"line 2: {shown}"


def test_a_long_change_is_shown_around_what_differs() -> None:
    before = "Job(table=make_table(name), polls_min=read('MIN', minimum=1), polls_max=read('MAX', minimum=1))"
    after = "Job(table=make_table(name), polls_max=read('MAX', minimum=1))"
    shown_before, shown_after = report._trimmed(before, after)
    assert "polls_min=read('MIN', minimum=1)" in shown_before and "polls_min" not in shown_after
    assert len(shown_before) < len(before) and shown_before.startswith("...")


# A run: the source, mutmut's mutated copy of it and its meta file.

SOURCE = """\
def add(a, b):
    logger.info("adding", extra={"a": a})
    return a + b


class Box:
    def size(self):
        return len(self.items) * 2
"""

MUTATED = """\
def x_add__mutmut_orig(a, b):
    logger.info("adding", extra={"a": a})
    return a + b


def x_add__mutmut_1(a, b):
    logger.info("XXaddingXX", extra={"a": a})
    return a + b


def x_add__mutmut_2(a, b):
    logger.info("adding", extra={"XXaXX": a})
    return a + b


def x_add__mutmut_3(a, b):
    logger.info("adding", extra={"a": a})
    return a - b


def x_add__mutmut_4(a, b):
    logger.info("adding", extra={"a": None})
    return a + b


class Box:
    def xǁBoxǁsize__mutmut_orig(self):
        return len(self.items) * 2

    def xǁBoxǁsize__mutmut_1(self):
        return len(self.items) / 2

    def xǁBoxǁsize__mutmut_2(self):
        return len(self.items) * 3
"""


def _run(tmp_path: Path, codes: dict[str, int | None]) -> Path:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "mod.py").write_text(SOURCE, encoding="utf-8")
    mutants = tmp_path / "mutants" / "src" / "pkg"
    mutants.mkdir(parents=True)
    (mutants / "mod.py").write_text(MUTATED, encoding="utf-8")
    meta = {
        "exit_code_by_key": {f"pkg.mod.{name}": code for name, code in codes.items()},
        "hash_by_function_name": {},
        "type_check_error_by_key": {},
        "durations_by_key": {},
        "estimated_durations_by_key": {},
    }
    (mutants / "mod.py.meta").write_text(json.dumps(meta), encoding="utf-8")
    return tmp_path


CODES: dict[str, int | None] = {
    "x_add__mutmut_1": 0,  # survived, log-only
    "x_add__mutmut_2": 0,  # survived, log-only
    "x_add__mutmut_3": 1,  # killed
    "x_add__mutmut_4": 0,  # survived: an extra value
    "xǁBoxǁsize__mutmut_1": 1,
    "xǁBoxǁsize__mutmut_2": 36,  # timeout
}


def test_a_run_is_scored_with_log_only_survivors_counted_apart(tmp_path: Path) -> None:
    [score], findings, errors = report.scan(_run(tmp_path, CODES), {})
    assert errors == []
    assert (score.module, score.total, score.killed, score.timeout, score.log_only) == ("pkg.mod", 6, 2, 1, 2)
    assert score.survived == ["pkg.mod.x_add__mutmut_4"]
    assert score.score == pytest.approx(100 * 3 / 4)
    by_name = {f.name: f for f in findings}
    assert by_name["pkg.mod.x_add__mutmut_1"].status == "log-only"
    assert by_name["pkg.mod.x_add__mutmut_4"].change == "line 2: a -> None"  # the line in the source file


def test_the_exit_status_says_whether_every_module_reaches_the_minimum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _run(tmp_path, CODES)
    assert report.main(["--dir", str(root), "--min-score", "75"]) == 0
    out = capsys.readouterr().out
    assert "pkg.mod" in out and "75.0%" in out and "x_add__mutmut_4" in out and "x_add__mutmut_1" not in out
    assert report.main(["--dir", str(root), "--min-score", "76"]) == 1
    assert "below 76%: pkg.mod" in capsys.readouterr().err


def test_an_unfinished_run_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _run(tmp_path, {**CODES, "x_add__mutmut_3": None})
    assert report.main(["--dir", str(root), "--min-score", "0"]) == 1
    assert "1 mutants were not checked" in capsys.readouterr().err


def test_no_run_at_all_is_its_own_status(tmp_path: Path) -> None:
    assert report.main(["--dir", str(tmp_path)]) == 2


def _equivalents(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "equivalent.txt"
    path.write_text(f"# name | change | reason\n{line}\n", encoding="utf-8")
    return path


def test_a_listed_equivalent_mutant_is_not_counted(tmp_path: Path) -> None:
    root = _run(tmp_path, CODES)
    listed = _equivalents(tmp_path, "pkg.mod.x_add__mutmut_4 | line 2: a -> None | the value is never read")
    [score], _, errors = report.scan(root, report.read_equivalents(listed))
    assert errors == [] and score.equivalent == 1 and score.survived == [] and score.score == 100.0
    assert report.main(["--dir", str(root), "--equivalents", str(listed), "--min-score", "100"]) == 0


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("pkg.mod.x_add__mutmut_4 | line 2: b -> None | stale", "now makes `line 2: a -> None`"),
        ("pkg.mod.x_add__mutmut_3 | line 3: a + b -> a - b | wrong", "was killed"),
        ("pkg.mod.x_add__mutmut_9 | line 3: x -> y | gone", "is no mutant of this run"),
    ],
)
def test_a_stale_equivalents_list_is_an_error(tmp_path: Path, line: str, error: str) -> None:
    root = _run(tmp_path, CODES)
    _, _, errors = report.scan(root, report.read_equivalents(_equivalents(tmp_path, line)))
    assert len(errors) == 1 and error in errors[0]
    assert report.main(["--dir", str(root), "--equivalents", str(tmp_path / "equivalent.txt"), "--min-score", "0"]) == 1


def test_a_malformed_equivalents_line_names_its_place(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"equivalent.txt:2: expected `mutant name \| change \| reason`"):
        report.read_equivalents(_equivalents(tmp_path, "pkg.mod.x_add__mutmut_4 without a reason"))


KEPT_FOR_LOGS = """
def deliver(record, action):
    log = {"jobId": record["jobId"], "action": action}
    logger.info("sent", extra=log)
    logger.warning("failed", extra={**log, "error": "x"})
"""


def test_a_key_of_a_dict_kept_only_for_log_calls_is_log_only() -> None:
    assert _log_only(KEPT_FOR_LOGS, KEPT_FOR_LOGS.replace('"action": action', '"XXactionXX": action'))
    assert not _log_only(KEPT_FOR_LOGS, KEPT_FOR_LOGS.replace('"action": action', '"action": None'))


@pytest.mark.parametrize("other_use", ["    return log\n", "    send(**log)\n", '    print("x", extra=log)\n'])
def test_a_dict_that_is_also_used_otherwise_is_not_only_for_logs(other_use: str) -> None:
    original = KEPT_FOR_LOGS + other_use
    assert not _log_only(original, original.replace('"action": action', '"XXactionXX": action'))
