"""CloudFormation creates, updates and deletes an ``AWS::CloudWatch::Dashboard`` on the local cloud
(localcloud_ext/cloudwatch_dashboard.py; LocalStack core skips the resource). On the shared instance."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.localcloud.helpers import Clients, wait_for


def _template(title: str) -> str:
    body = {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 2, "properties": {"markdown": title}}]}
    return json.dumps(
        {
            "Resources": {
                "Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardBody": json.dumps(body)}}
            }
        }
    )


def _settled(cfn: Any, name: str) -> str | None:
    status = str(cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
    return None if status.endswith("_IN_PROGRESS") else status


def test_a_stacks_dashboard_is_created_updated_and_deleted(shared_client: Clients) -> None:
    cfn, cloudwatch = shared_client("cloudformation"), shared_client("cloudwatch")
    name = f"board-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=_template("first"))
    assert wait_for(lambda: _settled(cfn, name), 60, "the stack") == "CREATE_COMPLETE"
    [resource] = cfn.describe_stack_resources(StackName=name)["StackResources"]
    board = resource["PhysicalResourceId"]
    assert board.startswith(name)  # generated from the stack and logical id (LocalStack core: "unknown")

    def title() -> str:
        body = json.loads(cloudwatch.get_dashboard(DashboardName=board)["DashboardBody"])
        return str(body["widgets"][0]["properties"]["markdown"])

    assert title() == "first"
    cfn.update_stack(StackName=name, TemplateBody=_template("second"))
    assert wait_for(lambda: _settled(cfn, name), 60, "the update") == "UPDATE_COMPLETE"
    assert title() == "second"
    cfn.delete_stack(StackName=name)
    wait_for(
        lambda: board not in {d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]},
        60,
        "the delete",
    )
    with pytest.raises(ClientError):
        cloudwatch.get_dashboard(DashboardName=board)
