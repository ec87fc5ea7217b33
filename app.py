#!/usr/bin/env python3
"""CDK entry point: build the stage config from context, add the stack, synthesize.

Select a stage and override single settings with context, e.g. `cdk synth -c stage=aws -c maxAttempts=5`.
"""

from __future__ import annotations

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.callback_stack import CallbackStack
from stacks.config import OVERRIDE_KEYS, ConfigError, load_stage_config

STACK_NAME = "CallbackPattern"


def main() -> None:
    app = cdk.App()
    context = app.node.try_get_context
    try:
        config = load_stage_config(
            context("stage"),
            {key: context(key) for key in OVERRIDE_KEYS if context(key) is not None},
        )
    except ConfigError as error:
        sys.exit(f"app.py: {error}")

    stack = CallbackStack(
        app,
        STACK_NAME,
        config=config,
        description=f"Step Functions task-token callback pattern ({config.stage})",
    )
    cdk.Tags.of(stack).add("Project", "stepfunctions-callback-pattern")
    cdk.Tags.of(stack).add("Stage", config.stage)

    # cdk-nag runs on every synth; acknowledged findings are written into the template metadata.
    if str(context("nag")).lower() != "false":
        cdk.Validations.of(app).add_plugins(
            AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
        )
    app.synth()


if __name__ == "__main__":
    main()
