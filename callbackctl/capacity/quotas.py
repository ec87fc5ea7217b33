"""The AWS quotas the capacity model checks against, with their sources (quotas.json)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUOTAS_FILE = Path(__file__).with_name("quotas.json")
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Quota:
    key: str
    name: str
    value: float
    unit: str
    source: str


@dataclass(frozen=True)
class Quotas:
    region: str
    checked: str  # the date the sources were read
    values: Mapping[str, Quota]

    def __getitem__(self, key: str) -> Quota:
        return self.values[key]

    def sources(self) -> dict[str, str]:
        return {q.key: q.source for q in self.values.values()}


def load_quotas(region: str = DEFAULT_REGION, path: Path = QUOTAS_FILE) -> Quotas:
    """The account defaults that apply in `region` (the large regions have higher ones)."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    tier = "large" if region in data["large_regions"] else "other"
    values = {
        key: Quota(key=key, name=q["name"], value=float(q[tier]), unit=q["unit"], source=q["source"])
        for key, q in data["quotas"].items()
    }
    return Quotas(region=region, checked=data["checked"], values=values)
