"""A function's reserved concurrency from CloudFormation is applied on the local cloud
(localcloud_ext/lambda_concurrency.py; LocalStack core ignores the property) and enforced: beyond
it an invocation is throttled, as on AWS. The local stage's create_job relies on it. On the shared
instance."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.localcloud.helpers import ROLE, Clients, wait_for

HANDLER = "import time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return {'ok': True}\n"


def _template(reserved: int | None) -> str:
    properties: dict[str, Any] = {
        "FunctionName": "reserved-probe",
        "Runtime": "python3.13",
        "Handler": "index.handler",
        "Role": ROLE,
        "Timeout": 30,
        "Code": {"ZipFile": HANDLER},
    }
    if reserved is not None:
        properties["ReservedConcurrentExecutions"] = reserved
    return json.dumps({"Resources": {"Probe": {"Type": "AWS::Lambda::Function", "Properties": properties}}})


def _deploy(client: Clients, template: str, *, create: bool) -> None:
    cfn = client("cloudformation")
    if create:
        cfn.create_stack(StackName="reserved-probe", TemplateBody=template)
    else:
        cfn.update_stack(StackName="reserved-probe", TemplateBody=template)
    done = ("CREATE_COMPLETE", "UPDATE_COMPLETE")

    def finished() -> str | None:
        status = str(cfn.describe_stacks(StackName="reserved-probe")["Stacks"][0]["StackStatus"])
        return status if status in done or status.endswith("FAILED") or "ROLLBACK" in status else None

    assert wait_for(finished, 120, "the stack") in done


def _reserved(client: Clients) -> int | None:
    answer = client("lambda").get_function_concurrency(FunctionName="reserved-probe")
    value = answer.get("ReservedConcurrentExecutions")
    return None if value is None else int(value)


@pytest.fixture(scope="module")
def stack(shared_client: Clients) -> Any:
    _deploy(shared_client, _template(2), create=True)
    yield
    shared_client("cloudformation").delete_stack(StackName="reserved-probe")


def test_the_stack_reserves_the_functions_concurrency_and_invocations_beyond_it_are_throttled(
    shared_client: Clients, stack: None
) -> None:
    """Reserved 2 in the template: the function reports 2; six invocations at once that each take 3 s
    (no retries): two run, the others are answered TooManyRequestsException."""
    assert _reserved(shared_client) == 2
    shared_client("lambda").invoke(FunctionName="reserved-probe", Payload=b"{}")  # warm, not counted

    def invoke(_: int) -> str:
        try:
            shared_client("lambda").invoke(FunctionName="reserved-probe", Payload=json.dumps({"sleep": 3}).encode())
        except ClientError as err:
            return str(err.response["Error"]["Code"])
        return "ok"

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(invoke, range(6)))
    assert time.monotonic() - began < 20
    assert answers.count("TooManyRequestsException") >= 3, answers
    assert 1 <= answers.count("ok") <= 2, answers


def test_a_stack_update_changes_and_then_removes_the_reservation(shared_client: Clients, stack: None) -> None:
    _deploy(shared_client, _template(5), create=False)
    assert _reserved(shared_client) == 5
    _deploy(shared_client, _template(None), create=False)
    assert _reserved(shared_client) is None
