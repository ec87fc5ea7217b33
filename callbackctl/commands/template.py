"""``template-summary``: what a synthesized template holds (resources by type, outputs, stage)."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from callbackctl.cli.options import JSON, add_command
from callbackctl.cli.output import emit
from callbackctl.deployment.targets import STACK_NAME
from callbackctl.errors import UsageError

TEMPLATE = f"{STACK_NAME}.template.json"


def _stage(resources: dict[str, Any]) -> str | None:
    """The stage the template was synthesized for: every function carries it as STAGE."""
    for resource in resources.values():
        if resource.get("Type") == "AWS::Lambda::Function":
            stage = resource.get("Properties", {}).get("Environment", {}).get("Variables", {}).get("STAGE")
            if isinstance(stage, str):
                return stage
    return None


def template_summary(out_dir: Path) -> dict[str, Any]:
    path = out_dir / TEMPLATE
    if not path.exists():
        raise UsageError(f"{path} not found: run `make synth` first")
    try:
        template = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UsageError(f"{path} is not valid JSON ({err.msg}): synthesize again with `make synth`") from None
    resources = template.get("Resources", {})
    by_type = Counter(r.get("Type", "?") for r in resources.values())
    return {
        "template": str(path),
        "stackName": STACK_NAME,
        "stage": _stage(resources),
        "resourceCount": sum(by_type.values()),
        "resources": dict(sorted(by_type.items())),
        "outputs": sorted(template.get("Outputs", {})),
    }


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"{summary['template']} (stage {summary['stage'] or 'unknown'}): {summary['resourceCount']} resources"]
    lines += [f"  {count:3}  {kind}" for kind, count in summary["resources"].items()]
    lines.append("Outputs: " + ", ".join(summary["outputs"]))
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    summary = template_summary(Path(args.out_dir))
    emit(args.json, summary, lambda: format_summary(summary))
    return 0


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "template-summary",
        "summarise a synthesized template: stage, resources by type, outputs",
        _run,
        parents=[JSON],
    )
    p.add_argument("out_dir", nargs="?", default="cdk.out", help="cloud assembly folder (default cdk.out)")
