"""Checkov findings we accept, written into the template: one resource, one check, one reason.

checkov (the scanner our users run over the synthesized template in their pipelines) reads
`Metadata.checkov.skip` entries, `{"id": ..., "comment": ...}`, and reports those checks as
skipped with the comment. Putting them here, on the construct, keeps the reason next to the code
it is about and in every template, instead of in each pipeline's command line.
"""

from __future__ import annotations

from typing import Any, Final

from aws_cdk import CfnResource
from constructs import IConstruct

from stacks.nag import cfn_resource

# A reason must say why, not just that: tests/infra checks every comment is at least this long.
MIN_REASON_LENGTH: Final = 40


def skip_check(construct: IConstruct, check_id: str, reason: str) -> None:
    """Accept checkov's `check_id` (e.g. `CKV_AWS_117`) on the CloudFormation resource of
    `construct` (an L2 construct or the resource itself). A second call with the same check
    replaces the reason, so a shared default can be made specific."""
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"a checkov skip needs a reason of at least {MIN_REASON_LENGTH} characters: {reason!r}")
    resource = construct if isinstance(construct, CfnResource) else cfn_resource(construct)
    existing: dict[str, Any] = resource.get_metadata("checkov") or {}
    entries = [entry for entry in existing.get("skip", []) if entry["id"] != check_id]
    entries.append({"id": check_id, "comment": reason})
    resource.add_metadata("checkov", {**existing, "skip": entries})
