"""The handlers' third-party dependencies as a Lambda layer, built by `pip` at synth time (no Docker).

`lambda_src/requirements.txt` lists every package the handlers import beyond the runtime's boto3,
each pinned with its hash. `cdk synth` installs them with the synthesizing virtualenv's pip into
the layer's `python/` folder (what Lambda puts on `sys.path` as `/opt/python`), as wheels for the
functions' runtime and architecture whatever the machine that synthesizes: CDK's local bundling
(`ILocalBundling`), never its Docker fallback.

The asset hash is the requirements file's content and the install recipe (Python version,
platform), not the built bytes: the same requirements give the same layer asset, and so the same
template, on every run and machine; changing a pin gives a new layer version.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

# Bump when the install command changes in a way the requirements file does not show.
RECIPE_VERSION: Final = "1"
# pip's platform tag for each Lambda architecture.
_PLATFORMS: Final = {
    lambda_.Architecture.X86_64.name: "manylinux2014_x86_64",
    lambda_.Architecture.ARM_64.name: "manylinux2014_aarch64",
}


class BundlingError(RuntimeError):
    """pip could not install the layer's requirements."""


def python_version(runtime: lambda_.Runtime) -> str:
    """The Python of a Lambda runtime, e.g. "3.13" for python3.13."""
    name = runtime.name
    if not name.startswith("python"):
        raise ValueError(f"not a Python runtime: {name}")
    return name.removeprefix("python")


def pip_install_command(requirements: Path, target: Path, *, python: str, platform: str) -> list[str]:
    """Wheels only, for the given Python and platform, exactly the listed packages and hashes."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",  # every dependency is listed (and hashed) in the file
        "--require-hashes",
        "--only-binary=:all:",
        "--implementation=cp",
        f"--python-version={python}",
        f"--platform={platform}",
        "--no-compile",  # no .pyc: the layer's bytes depend only on the wheels
        "--target",
        str(target),
        "--requirement",
        str(requirements),
    ]


@jsii.implements(ILocalBundling)
class PipInstall:
    """CDK local bundling: `pip install --target <output>/python -r requirements` on this machine."""

    def __init__(self, requirements: Path, *, python: str, platform: str) -> None:
        self.requirements = requirements
        self.python = python
        self.platform = platform

    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        """jsii passes the bundling options as one positional struct (typed as keywords): unused."""
        target = Path(output_dir) / "python"
        command = pip_install_command(self.requirements, target, python=self.python, platform=self.platform)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BundlingError(
                f"pip could not build the dependencies layer from {self.requirements} "
                f"(exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return True  # never fall back to Docker


def asset_hash(requirements: Path, *, python: str, platform: str) -> str:
    """What the layer is made of: the requirements file's bytes and how they are installed."""
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"|python{python}|{platform}|recipe{RECIPE_VERSION}".encode())
    return digest.hexdigest()


class DependenciesLayer(lambda_.LayerVersion):
    """The layer of `requirements` (lambda_src/requirements.txt), for one runtime and architecture."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        requirements: Path,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
    ) -> None:
        python = python_version(runtime)
        platform = _PLATFORMS[architecture.name]
        super().__init__(
            scope,
            construct_id,
            code=lambda_.Code.from_asset(
                str(requirements.parent),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=asset_hash(requirements, python=python, platform=platform),
                bundling=BundlingOptions(
                    # Required by the API, never pulled or run: local bundling always succeeds or raises.
                    image=runtime.bundling_image,
                    local=PipInstall(requirements, python=python, platform=platform),
                ),
            ),
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
            description=f"Handler dependencies from {requirements.name} (Python {python}, {platform})",
        )
