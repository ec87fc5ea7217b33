"""Reading the synthesized template: find resources by construct path, decode the ASL, walk IAM."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

STACK = "CallbackPattern"
Template = Mapping[str, Any]


def resources(template: Template, resource_type: str | None = None) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource_type is None or resource["Type"] == resource_type
    }


def logical_id(template: Template, path: str) -> str:
    """The logical ID of the resource at construct path `CallbackPattern/<path>/Resource`."""
    wanted = f"{STACK}/{path}/Resource"
    found = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource.get("Metadata", {}).get("aws:cdk:path") == wanted
    ]
    assert len(found) == 1, f"expected one resource at {wanted}, found {found}"
    return found[0]


def resource(template: Template, path: str) -> dict[str, Any]:
    return template["Resources"][logical_id(template, path)]


def _placeholder(token: Mapping[str, Any]) -> str:
    if "Ref" in token:
        return "${" + token["Ref"] + "}"
    if "Fn::GetAtt" in token:
        return "${" + ".".join(token["Fn::GetAtt"]) + "}"
    raise AssertionError(f"unexpected token in definition: {token}")


def state_machine_definition(template: Template) -> dict[str, Any]:
    """The ASL document, with `{"Ref": X}` as `${X}` and `{"Fn::GetAtt": [X, "Arn"]}` as `${X.Arn}`."""
    definition = resource(template, "Workflow/StateMachine")["Properties"]["DefinitionString"]
    if isinstance(definition, str):
        return dict(json.loads(definition))
    separator, parts = definition["Fn::Join"]
    text = separator.join(part if isinstance(part, str) else _placeholder(part) for part in parts)
    return dict(json.loads(text))


def end_states_of(definition: Mapping[str, Any]) -> dict[str, str]:
    """The definition's Succeed and Fail states: id -> type."""
    return {name: state["Type"] for name, state in definition["States"].items() if state["Type"] in ("Succeed", "Fail")}


def expected_end_states(names: tuple[str, ...], succeeded: str) -> dict[str, str]:
    """End states named in lambda_src/common/end_states.py, one Succeed state and the rest Fail."""
    assert len(set(names)) == len(names), f"an end state is named twice: {names}"
    return {name: "Succeed" if name == succeeded else "Fail" for name in names}


def role_statements(template: Template, role_logical_id: str) -> list[dict[str, Any]]:
    """Every IAM statement attached to a role through an AWS::IAM::Policy."""
    statements: list[dict[str, Any]] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def function_role(template: Template, function_path: str) -> str:
    role = resource(template, function_path)["Properties"]["Role"]
    return str(role["Fn::GetAtt"][0])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed(statements: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    """(action, resource) pairs the statements allow."""
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        for action in as_list(statement["Action"]):
            for target in as_list(statement["Resource"]):
                yield action, target


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def with_suffix(logical_id: str, suffix: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [get_att(logical_id), suffix]]}


_HASH = re.compile(r"[0-9a-f]{64}")


def layer_asset_hashes(template: Template) -> set[str]:
    """The asset hashes of the layers: made from lambda_src/requirements.txt, not from built bytes."""
    keys = (
        layer["Properties"]["Content"]["S3Key"] for layer in resources(template, "AWS::Lambda::LayerVersion").values()
    )
    return {match for key in keys for match in _HASH.findall(key)}


def normalised(template: Template) -> dict[str, Any]:
    """The template without what changes when nothing in the infrastructure did: the code asset's
    hash (any handler edit changes it) and the CDK version-reporting resource. The dependencies
    layer's hash stays: it changes only with lambda_src/requirements.txt (a new layer version), so
    the snapshot also shows it is the same on every run and machine."""
    kept = layer_asset_hashes(template)
    text = _HASH.sub(lambda m: m.group() if m.group() in kept else "<asset-hash>", json.dumps(template))
    result: dict[str, Any] = json.loads(text)
    result["Resources"].pop("CDKMetadata", None)
    conditions = result.get("Conditions", {})
    conditions.pop("CDKMetadataAvailable", None)
    if not conditions:
        result.pop("Conditions", None)
    return result
