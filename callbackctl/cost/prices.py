"""List prices (``prices.json``) and the one place where usage becomes dollars."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from callbackctl.cost.usage import MeasuredUsage, Usage

PRICES_FILE = Path(__file__).with_name("prices.json")


class Architecture(StrEnum):
    X86_64 = "x86_64"
    ARM64 = "arm64"


@dataclass(frozen=True)
class Prices:
    """Unit prices in USD per single unit, and monthly free allowances, with their sources."""

    region: str
    as_of: str
    transition: float
    lambda_request: float
    lambda_gb_s_x86_64: float
    lambda_gb_s_arm64: float
    scheduler_invocation: float
    ddb_wru: float
    ddb_rru: float
    free_transitions: float
    free_lambda_requests: float
    free_lambda_gb_s: float
    free_scheduler_invocations: float
    free_ddb_wru: float
    free_ddb_rru: float
    sources: tuple[tuple[str, str], ...]

    def unit_price(self, usage_field: str, architecture: Architecture) -> float:
        if usage_field == "lambda_gb_s":
            return self.lambda_gb_s_arm64 if architecture == Architecture.ARM64 else self.lambda_gb_s_x86_64
        return float(getattr(self, _PRICE_ATTR[usage_field]))

    def free_allowance(self, usage_field: str) -> float:
        return float(getattr(self, "free_" + usage_field))


_PRICE_ATTR = {
    "transitions": "transition",
    "lambda_requests": "lambda_request",
    "scheduler_invocations": "scheduler_invocation",
    "ddb_wru": "ddb_wru",
    "ddb_rru": "ddb_rru",
}

# usage field -> (service, item) in table order
LINE_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("transitions", "Step Functions", "state transitions"),
    ("lambda_requests", "Lambda", "requests"),
    ("lambda_gb_s", "Lambda", "GB-seconds"),
    ("scheduler_invocations", "EventBridge Scheduler", "invocations"),
    ("ddb_wru", "DynamoDB", "write request units"),
    ("ddb_rru", "DynamoDB", "read request units"),
)


def load_prices(path: str | Path | None = None) -> Prices:
    """Read ``prices.json`` (next to this module unless ``path`` is given)."""
    source = Path(path) if path is not None else PRICES_FILE
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        services = data["services"]

        def unit(service: str, name: str) -> float:
            entry = services[service]["prices"][name]
            per = float(entry["per"])
            if per <= 0 or float(entry["usd"]) < 0:
                raise ValueError(f"{service}.{name}: usd must be >= 0 and per > 0")
            return float(entry["usd"]) / per

        def free(service: str, name: str) -> float:
            return float(services[service].get("free_tier", {}).get(name, 0))

        return Prices(
            region=str(data["region"]),
            as_of=str(data["as_of"]),
            transition=unit("step_functions", "standard_state_transition"),
            lambda_request=unit("lambda", "request"),
            lambda_gb_s_x86_64=unit("lambda", "gb_second_x86_64"),
            lambda_gb_s_arm64=unit("lambda", "gb_second_arm64"),
            scheduler_invocation=unit("scheduler", "invocation"),
            ddb_wru=unit("dynamodb", "write_request_unit"),
            ddb_rru=unit("dynamodb", "read_request_unit"),
            free_transitions=free("step_functions", "standard_state_transition"),
            free_lambda_requests=free("lambda", "request"),
            free_lambda_gb_s=free("lambda", "gb_second"),
            free_scheduler_invocations=free("scheduler", "invocation"),
            free_ddb_wru=free("dynamodb", "write_request_unit"),
            free_ddb_rru=free("dynamodb", "read_request_unit"),
            sources=tuple((name, str(svc["source"])) for name, svc in services.items()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"invalid price file {source}: {exc}") from exc


_DEFAULT_PRICES: Prices | None = None


def default_prices() -> Prices:
    global _DEFAULT_PRICES
    if _DEFAULT_PRICES is None:
        _DEFAULT_PRICES = load_prices()
    return _DEFAULT_PRICES


@dataclass(frozen=True)
class CostLine:
    service: str
    item: str
    usage: float  # the month's usage of this design
    free: float  # part covered by the free tier
    billable: float
    unit_price_usd: float
    cost_usd: float


@dataclass(frozen=True)
class DesignCost:
    design: str
    usage: Usage
    lines: tuple[CostLine, ...]
    total_usd: float
    free_tier: bool

    def by_service(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.service] = out.get(line.service, 0.0) + line.cost_usd
        return out


def price_usage(
    usage: Usage,
    *,
    prices: Prices | None = None,
    architecture: Architecture = Architecture.X86_64,
    free_tier: bool = False,
    design: str = "",
) -> DesignCost:
    """The one place where usage becomes dollars.  ``usage`` is one design's whole month."""
    prices = prices or default_prices()
    lines = []
    for name, service, item in LINE_ITEMS:
        amount = float(getattr(usage, name))
        free = min(amount, prices.free_allowance(name)) if free_tier else 0.0
        billable = amount - free
        unit_price = prices.unit_price(name, Architecture(architecture))
        lines.append(CostLine(service, item, amount, free, billable, unit_price, billable * unit_price))
    return DesignCost(design, usage, tuple(lines), sum(line.cost_usd for line in lines), free_tier)


def price_measured(
    measured: MeasuredUsage,
    jobs_per_month: int,
    *,
    prices: Prices | None = None,
    architecture: Architecture = Architecture.X86_64,
    free_tier: bool = False,
    design: str = "",
) -> DesignCost:
    return price_usage(
        measured.monthly(jobs_per_month), prices=prices, architecture=architecture, free_tier=free_tier, design=design
    )
