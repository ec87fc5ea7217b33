"""Options and argument types shared by the commands, and the helper that adds a command."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from callbackctl.deployment.targets import TARGETS, Target, resolve_target
from callbackctl.errors import EXIT_CODES_HELP

Handler = Callable[[argparse.Namespace], int]


def add_command(
    sub: Any,
    name: str,
    summary: str,
    handler: Handler,
    *,
    details: str = "",
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """A subcommand whose help starts with its one-line summary and ends with the exit codes."""
    description = f"{summary[:1].upper()}{summary[1:]}." + (f"\n\n{details}" if details else "")
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog=EXIT_CODES_HELP,
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=handler, parser=parser)
    return parser


def target_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("target")
    group.add_argument(
        "--target",
        choices=TARGETS,
        default="localcloud",
        help="where the stack runs: the local cloud (default), a LocalStack in Docker, or AWS (your credentials)",
    )
    group.add_argument("--endpoint", metavar="URL", help="endpoint of a local target (default http://localhost:4566)")
    group.add_argument("--region", help="AWS region for --target aws (default: AWS_REGION or your profile's)")
    group.add_argument("--profile", help="named AWS profile for --target aws (default: AWS_PROFILE or default)")
    return common


def json_option() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")
    return common


TARGET, JSON = target_options(), json_option()


def target_from(args: argparse.Namespace) -> Target:
    return resolve_target(args.target, endpoint=args.endpoint, region=args.region, profile=args.profile)


# --------------------------------------------------------------------------- argument types


def _whole(text: str) -> int:
    try:
        return int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def int_range(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """A whole number from ``minimum`` to ``maximum`` (commas and underscores allowed: 10,000)."""

    def parse(text: str) -> int:
        value = _whole(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:,}, got {value:,}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {value:,}")
        return value

    return parse


positive_int = int_range(1)
nonneg_int = int_range(0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number greater than 0, got {text}")
    return value


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str) -> float:
    """'90s', '30m', '2h', '1h30m', '1.5d' or a bare number of seconds -> seconds (> 0)."""
    raw = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        seconds = float(raw)
    else:
        compact = raw.replace(" ", "")
        if not compact or not re.fullmatch(rf"(?:{_DURATION_PART.pattern})+", compact, re.IGNORECASE):
            raise ValueError(f"cannot parse duration {text!r}: use e.g. 90s, 30m, 2h, 1h30m or seconds")
        seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in _DURATION_PART.findall(compact))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be greater than zero")
    return seconds


def duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
