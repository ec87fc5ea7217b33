"""``deploy`` and ``destroy`` with the pinned CDK CLI."""

from __future__ import annotations

import argparse
from typing import Any

from callbackctl.cli.options import JSON, TARGET, add_command, target_from
from callbackctl.cli.output import emit, jsonable
from callbackctl.deployment.cdk import deploy, destroy


def run_deploy(args: argparse.Namespace) -> int:
    info = deploy(target_from(args), stage=args.stage)
    emit(args.json, info, "\n".join(f"  {k:24} {v}" for k, v in jsonable(info).items()))
    return 0


def run_destroy(args: argparse.Namespace) -> int:
    destroy(target_from(args))
    return 0


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "deploy",
        "bootstrap if needed, deploy the stack with the pinned CDK CLI and print its outputs",
        run_deploy,
        parents=[TARGET, JSON],
    )
    p.add_argument("--stage", choices=("local", "aws"), help="config stage (default: local for local targets)")
    add_command(sub, "destroy", "delete the stack from the target", run_destroy, parents=[TARGET])
