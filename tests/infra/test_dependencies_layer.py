"""The handlers' dependencies layer: built by pip at synth time (no Docker) from the pinned, hashed
lambda_src/requirements.txt, for the functions' runtime, used by every function, and with an asset
hash made of the requirements, so the same file gives the same template on every run and machine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aws_cdk import aws_lambda as lambda_

from stacks.dependencies import asset_hash, pip_install_command, python_version
from stacks.lambda_function import ARCHITECTURE, RUNTIME

from .conftest import Synth
from .template_helpers import logical_id, resource, resources

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "lambda_src" / "requirements.txt"
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)", re.MULTILINE)


def _pins(path: Path) -> dict[str, str]:
    return {name.lower().replace("_", "-"): version for name, version in _PIN.findall(path.read_text())}


def test_one_layer_for_the_functions_runtime_and_architecture(template_json: dict[str, Any]) -> None:
    [layer] = resources(template_json, "AWS::Lambda::LayerVersion").values()
    properties = layer["Properties"]
    assert properties["CompatibleRuntimes"] == [RUNTIME.name] == ["python3.13"]
    assert properties["CompatibleArchitectures"] == [ARCHITECTURE.name] == ["x86_64"]
    assert "LayerName" not in properties  # a generated name


def test_every_function_uses_the_layer(template_json: dict[str, Any]) -> None:
    layer = logical_id(template_json, "Dependencies")
    for function in resources(template_json, "AWS::Lambda::Function").values():
        assert function["Properties"]["Layers"] == [{"Ref": layer}]


def test_the_layer_holds_the_pinned_packages_under_python(synth: Synth) -> None:
    key = resource(synth.template, "Dependencies")["Metadata"]["aws:asset:path"]
    built = synth.outdir / key / "python"
    assert (built / "aws_lambda_powertools" / "logging" / "logger.py").is_file()
    dist_infos = (p.name.removesuffix(".dist-info").rsplit("-", 1) for p in built.glob("*.dist-info"))
    installed = {name.lower().replace("_", "-"): version for name, version in dist_infos}
    assert installed == _pins(REQUIREMENTS)
    assert not list(built.rglob("*.pyc"))  # --no-compile: the bytes depend on the wheels only


def test_the_layer_asset_hash_is_the_same_in_every_synth(synth: Synth, aws_synth: Synth) -> None:
    """Two synth processes (two stages) give the layer the same asset: the hash does not depend on
    the run, the machine or the built bytes (the snapshots keep it, unnormalised)."""
    [local] = resources(synth.template, "AWS::Lambda::LayerVersion").values()
    [aws] = resources(aws_synth.template, "AWS::Lambda::LayerVersion").values()
    assert local["Properties"]["Content"]["S3Key"] == aws["Properties"]["Content"]["S3Key"]


def test_the_asset_hash_follows_the_requirements_and_the_target(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("aws-lambda-powertools==3.37.0\n")
    first = asset_hash(requirements, python="3.13", platform="manylinux2014_x86_64")
    assert asset_hash(requirements, python="3.13", platform="manylinux2014_x86_64") == first
    assert asset_hash(requirements, python="3.12", platform="manylinux2014_x86_64") != first
    assert asset_hash(requirements, python="3.13", platform="manylinux2014_aarch64") != first
    requirements.write_text("aws-lambda-powertools==3.37.1\n")
    assert asset_hash(requirements, python="3.13", platform="manylinux2014_x86_64") != first


def test_pip_installs_exactly_the_hashed_wheels_for_the_runtime(tmp_path: Path) -> None:
    command = pip_install_command(
        REQUIREMENTS, tmp_path, python=python_version(lambda_.Runtime.PYTHON_3_13), platform="p"
    )
    assert command[1:4] == ["-m", "pip", "install"]
    for option in ("--no-deps", "--require-hashes", "--only-binary=:all:", "--python-version=3.13", "--platform=p"):
        assert option in command
    assert command[-4:] == ["--target", str(tmp_path), "--requirement", str(REQUIREMENTS)]


def test_every_requirement_is_pinned_with_a_hash_and_matches_the_dev_pins() -> None:
    """The handler tests run against the same versions the layer ships."""
    text = REQUIREMENTS.read_text()
    requirements = [line for line in text.replace("\\\n", " ").splitlines() if line and not line.startswith("#")]
    assert requirements and all(re.search(r"==\S+ +--hash=sha256:[0-9a-f]{64}", line) for line in requirements)
    dev = _pins(ROOT / "constraints.txt")
    assert {name: dev.get(name) for name in _pins(REQUIREMENTS)} == _pins(REQUIREMENTS)
