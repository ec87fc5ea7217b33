"""Lambda layers on the local cloud: a function imports what its layers put in `python/` and
`python/lib/pythonX.Y/site-packages`, a later layer wins over an earlier one, the code over both."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

import pytest

from tests.localcloud.helpers import ROLE, Clients

HANDLER = """
import from_site
import shared
import only_in_first


def lambda_handler(event, context):
    return {
        "shared": shared.WHO,
        "fromSite": from_site.WHO,
        "onlyInFirst": only_in_first.WHO,
        "code": __import__("overridden").WHO,
    }
"""


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _publish(client: Clients, name: str, files: dict[str, str]) -> str:
    layer = client("lambda").publish_layer_version(
        LayerName=name, Content={"ZipFile": _zip(files)}, CompatibleRuntimes=["python3.13"]
    )
    return str(layer["LayerVersionArn"])


@pytest.fixture(scope="module")
def function(shared_client: Clients) -> str:
    suffix = uuid.uuid4().hex[:8]
    site = "python/lib/python3.13/site-packages"
    first = _publish(
        shared_client,
        f"first-{suffix}",
        {
            "python/shared.py": "WHO = 'first layer'\n",
            "python/only_in_first.py": "WHO = 'first layer'\n",
            "python/overridden.py": "WHO = 'first layer'\n",
            f"{site}/from_site.py": "WHO = 'first layer site-packages'\n",
        },
    )
    second = _publish(shared_client, f"second-{suffix}", {"python/shared.py": "WHO = 'second layer'\n"})
    name = f"layered-{suffix}"
    shared_client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=ROLE,
        Handler="app.lambda_handler",
        Code={"ZipFile": _zip({"app.py": HANDLER, "overridden.py": "WHO = 'code'\n"})},
        Layers=[first, second],
        Timeout=5,
    )
    shared_client("lambda").get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def test_a_function_imports_from_its_layers_in_lambdas_order(shared_client: Clients, function: str) -> None:
    response = shared_client("lambda").invoke(FunctionName=function, Payload=b"{}")
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    assert body == {
        "shared": "second layer",  # unzipped after the first into /opt on Lambda: its file wins
        "fromSite": "first layer site-packages",
        "onlyInFirst": "first layer",
        "code": "code",  # the function's own code comes before every layer
    }


def test_the_function_configuration_names_its_layers(shared_client: Clients, function: str) -> None:
    layers = shared_client("lambda").get_function_configuration(FunctionName=function)["Layers"]
    assert [layer["Arn"].split(":")[-2].split("-")[0] for layer in layers] == ["first", "second"]
