"""Talking to a deployment: the one home of every AWS call the commands, the bench and the tests make.

- ``targets``: where the stack runs (local cloud, LocalStack, AWS) and its boto3 clients
- ``stack``: the stacks' outputs (resource names)
- ``cdk``: deploy and destroy with the pinned CDK CLI
- ``executions``: start executions, wait for them, read how they ended and their history
- ``tables``: scan, fill and empty the DynamoDB tables; the jobs still waiting
- ``functions``: invoke a function, read its settings and its log lines
- ``schedule``: the poller's schedule (on/off, how often it fires)
- ``cleanup``: leave a deployment empty

Nothing here prints except the CDK CLI's own output; long work reports progress through callbacks.
"""

from callbackctl.deployment.cdk import deploy, destroy, ensure_local_cloud
from callbackctl.deployment.executions import TERMINAL, ExecutionResult, end_state, history
from callbackctl.deployment.schedule import schedule_interval_seconds, set_schedule_state
from callbackctl.deployment.stack import StackInfo, stack_info
from callbackctl.deployment.targets import STACK_NAME, Target, resolve_target

__all__ = [
    "STACK_NAME",
    "TERMINAL",
    "ExecutionResult",
    "StackInfo",
    "Target",
    "deploy",
    "destroy",
    "end_state",
    "ensure_local_cloud",
    "history",
    "resolve_target",
    "schedule_interval_seconds",
    "set_schedule_state",
    "stack_info",
]
