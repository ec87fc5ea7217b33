"""One real synth per test session, through the pinned CDK CLI, shared by every infra test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .template_helpers import STACK

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
STAGES = ("local", "aws")


@dataclass(frozen=True, kw_only=True)
class Synth:
    stage: str
    outdir: Path
    template_path: Path
    template: dict[str, Any]
    output: str


def cdk_synth(outdir: Path, *context: str) -> str:
    """`cdk synth` through the pinned CLI (cdk-nag included) into outdir; context as `key=value`.
    Returns what the CLI printed (stdout and stderr)."""
    if not CDK.exists():
        pytest.fail(f"{CDK} is missing: run `npm ci` first")
    env = {
        **os.environ,
        # cdk.json runs `python app.py`: use the interpreter running the tests.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    command = [
        str(CDK),
        "synth",
        "--quiet",
        "--no-notices",
        *(a for c in context for a in ("-c", c)),
        "-o",
        str(outdir),
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"cdk synth failed ({result.returncode}):\n{result.stdout}\n{result.stderr}", pytrace=False)
    return f"{result.stdout}\n{result.stderr}"


def _stage_synth(tmp_path_factory: pytest.TempPathFactory, stage: str) -> Synth:
    outdir = tmp_path_factory.mktemp(f"cdk.out.{stage}")
    output = cdk_synth(outdir, f"stage={stage}")
    template_path = outdir / f"{STACK}.template.json"
    return Synth(
        stage=stage,
        outdir=outdir,
        template_path=template_path,
        template=json.loads(template_path.read_text()),
        output=output,
    )


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """`cdk synth -c stage=local` (cdk-nag included) into a temporary cloud assembly."""
    return _stage_synth(tmp_path_factory, "local")


@pytest.fixture(scope="session")
def aws_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """`cdk synth -c stage=aws` (cdk-nag included): the second and last stage synth of a session."""
    return _stage_synth(tmp_path_factory, "aws")


@pytest.fixture(scope="session", params=STAGES)
def stage_synth(request: pytest.FixtureRequest) -> Synth:
    """Each stage's synth in turn: for the checks every stage must pass (lint, scans, IAM)."""
    synth: Synth = request.getfixturevalue("synth" if request.param == "local" else "aws_synth")
    return synth


@pytest.fixture(scope="session")
def template_json(synth: Synth) -> dict[str, Any]:
    return synth.template


@pytest.fixture(scope="session")
def template(synth: Synth) -> Any:
    """`aws_cdk.assertions.Template` over the CLI's template."""
    from aws_cdk.assertions import Template

    return Template.from_json(synth.template)
