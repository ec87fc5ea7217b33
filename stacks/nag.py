"""Narrow cdk-nag acknowledgements: one construct, one finding, one reason each."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Accept one cdk-nag finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on one construct."""
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


def acknowledge_invoke_wildcard(role: iam.IRole | None, function: IConstruct, reason: str) -> None:
    """Accept the `<function ARN>:*` (its versions and aliases) that an invoke grant adds to the
    `DefaultPolicy` of `role` next to the function itself."""
    acknowledge(default_policy(role), f"AwsSolutions-IAM5[Resource::{arn_of(function)}:*]", reason)


def default_policy(role: iam.IRole | None) -> IConstruct:
    """The `DefaultPolicy` that `grant_*` calls add statements to."""
    if role is None:
        raise ValueError("expected a role, got None")
    return role.node.find_child("DefaultPolicy")


def cfn_resource(construct: IConstruct) -> CfnResource:
    """The CloudFormation resource an L2 construct wraps."""
    resource = construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    return resource


def arn_of(construct: IConstruct) -> str:
    """How cdk-nag spells `{"Fn::GetAtt": [<logical id>, "Arn"]}` of a construct in a finding."""
    resource = cfn_resource(construct)
    return f"<{Stack.of(resource).get_logical_id(resource)}.Arn>"
