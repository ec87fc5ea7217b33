#!/usr/bin/env python3
"""CDK entry point: build the stage config from context, add the stack, synthesize.

Select a stage and override single settings with context, e.g. `cdk synth -c stage=aws -c maxAttempts=5`.
`-c baseline=true` adds the benchmark's polling-loop baseline stack (`-c loopWaitSeconds=N` sets its
poll interval; default: the poller's schedule interval in real seconds).
"""

from __future__ import annotations

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.callback_stack import CallbackStack
from stacks.config import OVERRIDE_KEYS, ConfigError, load_stage_config
from stacks.polling_loop import BASELINE_STACK_NAME, PollingLoopStack, default_wait_seconds

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
    stacks: list[cdk.Stack] = [stack]

    # Only for `callbackctl bench`: the polling-loop design it measures the callback against.
    if str(context("baseline")).lower() == "true":
        raw_wait = context("loopWaitSeconds")
        if raw_wait is None:
            wait_seconds = default_wait_seconds(config)
        elif str(raw_wait).strip().isdigit() and int(str(raw_wait).strip()) >= 1:
            wait_seconds = int(str(raw_wait).strip())
        else:
            sys.exit(f"app.py: context loopWaitSeconds must be a positive integer, got {raw_wait!r}")
        stacks.append(
            PollingLoopStack(
                app,
                BASELINE_STACK_NAME,
                config=config,
                wait_seconds=wait_seconds,
                description=f"Benchmark baseline: Wait -> CheckStatus -> Choice polling loop ({config.stage})",
            )
        )

    for each in stacks:
        cdk.Tags.of(each).add("Project", "stepfunctions-callback-pattern")
        cdk.Tags.of(each).add("Stage", config.stage)

    # cdk-nag runs on every synth; acknowledged findings are written into the template metadata.
    if str(context("nag")).lower() != "false":
        cdk.Validations.of(app).add_plugins(
            AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
        )
    app.synth()


if __name__ == "__main__":
    main()
