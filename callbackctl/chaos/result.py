"""What one fault scenario counted, as a table row or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(kw_only=True)
class ScenarioResult:
    scenario: str
    executions: int
    expected: int  # executions that should reach their expected end (all of them)
    reached: int
    lost: int
    duplicateJobs: int  # JSON keys in the AWS APIs' camelCase
    duplicateSends: int | None  # None: the target does not count callbacks per token
    seconds: float
    notes: list[str] = field(default_factory=list)
    arns: list[str] = field(default_factory=list, repr=False)  # the scenario's executions (not in JSON)

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.duplicateJobs == 0 and not self.duplicateSends and self.reached == self.expected

    def fail(self, note: str, lost: int = 1) -> None:
        """A check beyond the end states failed: count it as lost and say why."""
        self.notes.append(f"FAILED: {note}")
        self.lost = max(self.lost, lost)


def format_table(results: list[ScenarioResult]) -> str:
    lines = [
        f"{'scenario':20} {'executions':>10} {'expected':>8} {'reached':>7} {'lost':>4} "
        f"{'dup jobs':>8} {'dup sends':>9} {'seconds':>7}"
    ]
    for r in results:
        sends = "n/a" if r.duplicateSends is None else str(r.duplicateSends)
        lines.append(
            f"{r.scenario:20} {r.executions:>10} {r.expected:>8} {r.reached:>7} {r.lost:>4} {r.duplicateJobs:>8} "
            f"{sends:>9} {r.seconds:>7.1f}"
        )
        lines += [f"    {note}" for note in r.notes]
    return "\n".join(lines)


def results_json(results: list[ScenarioResult]) -> str:
    rows = [{k: v for k, v in asdict(r).items() if k != "arns"} | {"passed": r.passed} for r in results]
    return json.dumps(rows, indent=2)
