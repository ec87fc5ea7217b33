"""``cost`` and ``cost-plot``: price both designs for a workload, or plot them across polls per job."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

from callbackctl.cli.options import JSON, add_command, int_range
from callbackctl.cli.output import emit
from callbackctl.cost.args import add_workload_args, prices_from_args, workload_from_args
from callbackctl.cost.breakeven import MAX_POLLS_LIMIT, MAX_POLLS_SEARCH, find_break_even
from callbackctl.cost.estimate import ASSUMPTIONS, SELECTED_POLLS, Estimate, estimate, estimate_measured, sweep
from callbackctl.cost.prices import Architecture
from callbackctl.cost.report import describe, format_estimate, format_sweep
from callbackctl.cost.usage import USAGE_FIELDS, MeasuredUsage
from callbackctl.errors import UsageError

PLOT_FORMATS = ("png", "svg", "pdf")
MAX_PLOT_POLLS = 10_000


def _measured_estimate(args: argparse.Namespace) -> Estimate:
    try:
        data = json.loads(Path(args.measured).read_text(encoding="utf-8"))
        return estimate_measured(
            MeasuredUsage.from_dict(data["callback"], "callback"),
            MeasuredUsage.from_dict(data["loop"], "loop"),
            args.jobs_per_month,
            prices=prices_from_args(args),
            architecture=Architecture(args.arch),
            free_tier=args.free_tier,
        )
    except OSError as exc:
        raise UsageError(f"argument --measured: cannot read {args.measured}: {exc.strerror or exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"argument --measured: {exc!s}") from None


def run_cost(args: argparse.Namespace) -> int:
    if args.measured is not None:
        est = _measured_estimate(args)
    else:
        est = estimate(workload_from_args(args), prices_from_args(args), max_polls=args.max_polls)
    emit(args.json, est.to_dict(), lambda: format_estimate(est))
    return 0


def plot_path(text: str) -> Path:
    """The plot file: its format from the suffix, in a folder that exists."""
    path = Path(text)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        raise UsageError(f"--output {text}: name a .png, .svg or .pdf file (the suffix picks the format)")
    if not path.parent.is_dir():
        raise UsageError(f"--output {text}: folder {path.parent} does not exist; create it first")
    return path


def run_cost_plot(args: argparse.Namespace) -> int:
    out = plot_path(args.output)
    prices = prices_from_args(args)
    workload = workload_from_args(args)
    from callbackctl.cost import plot  # matplotlib only when plotting

    points = sweep(workload, range(1, args.max_polls + 1), prices)
    be = find_break_even(workload, prices)
    subtitle = f"{prices.region} list prices ({prices.as_of})"
    plot.plot_sweep(points, be, describe(workload, include_polls=False), out, subtitle=subtitle)
    print(f"Wrote {out}")
    print(f"Break-even: {be.message} (searched 0..{be.max_polls:,})")
    print(format_sweep(sweep(workload, SELECTED_POLLS, prices)))
    return 0


def _paragraphs(*texts: str) -> str:
    return "\n".join(textwrap.fill(t, 78, subsequent_indent="  " if t.startswith("- ") else "") for t in texts)


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "cost",
        "monthly cost of the callback (task token) design vs a polling loop",
        run_cost,
        details=_paragraphs(
            "By service, with the saving and the polls per job from which the callback is cheaper.",
            "",
            *(f"- {a}" for a in ASSUMPTIONS),
        ),
        parents=[JSON],
    )
    add_workload_args(p, with_polls=True)
    p.add_argument(
        "--max-polls",
        type=int_range(0, MAX_POLLS_LIMIT),
        default=MAX_POLLS_SEARCH,
        metavar="N",
        help=f"break-even search range 0..N polls per job (default {MAX_POLLS_SEARCH:,}; at most {MAX_POLLS_LIMIT:,})",
    )
    p.add_argument(
        "--measured",
        metavar="FILE",
        help='price measured counts instead of the formula: JSON {"callback": {"perJob": {...}, '
        '"fixedMonthly": {...}}, "loop": {...}} with fields ' + ", ".join(USAGE_FIELDS) + " (or their camelCase)",
    )

    q = add_command(
        sub,
        "cost-plot",
        "plot both designs' monthly cost and the saving across polls per job",
        run_cost_plot,
        details=_paragraphs(
            "Writes a PNG, SVG or PDF (by the --output suffix) for 1..--max-polls polls per job (log scale), "
            "marking the break-even, and prints the saving at "
            + ", ".join(map(str, SELECTED_POLLS))
            + " polls per job."
        ),
    )
    add_workload_args(q, with_polls=False)
    q.add_argument(
        "--output",
        "-o",
        default="cost-plot.png",
        metavar="FILE",
        help="file to write: .png, .svg or .pdf (default cost-plot.png)",
    )
    q.add_argument(
        "--max-polls",
        type=int_range(2, MAX_PLOT_POLLS),
        default=200,
        metavar="N",
        help=f"largest polls per job on the x axis (2..{MAX_PLOT_POLLS:,}; default 200)",
    )
