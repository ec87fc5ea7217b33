"""A plot of the cost model's sweep over polls per job (matplotlib, Agg backend, imported lazily).

PNG, SVG or PDF, by the file's suffix."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

if TYPE_CHECKING:
    from callbackctl.cost.breakeven import BreakEven
    from callbackctl.cost.estimate import SweepPoint

CALLBACK_COLOR = "#1f77b4"
LOOP_COLOR = "#d62728"
SAVING_FLOOR = -100.0  # the saving axis is clipped here; lower values are drawn at the floor


def _usd(value: float, _pos: object = None) -> str:
    if value >= 1000:
        return f"${value:,.0f}"
    if value >= 1:
        return f"${value:g}"
    return f"${value:.2g}"


def _note(ax: Any, x: float, y: float, text: str, **kwargs: Any) -> None:
    ax.text(x, y, text, transform=ax.transAxes, ha="right", color="#666666", **{"fontsize": 8, **kwargs})


def _cost_panel(ax: Any, points: Sequence[SweepPoint]) -> None:
    """Monthly cost of both designs (log y when they span more than 20x)."""
    polls = [p.polls_per_job for p in points]
    callback = [p.callback_usd for p in points]
    loop = [p.loop_usd for p in points]
    positive = [v for v in callback + loop if v > 0]
    log_y = bool(positive) and max(positive) / min(positive) > 20
    floor = min(positive) / 2 if log_y else 0.0
    # on a log axis a $0 month (all within the free tier) is drawn along the bottom edge
    ax.plot(
        polls, [max(v, floor) for v in loop], color=LOOP_COLOR, lw=2.2, label="polling loop (Wait -> Check -> Choice)"
    )
    ax.plot(
        polls,
        [max(v, floor) for v in callback],
        color=CALLBACK_COLOR,
        lw=2.2,
        label="callback (task token + scheduled poller)",
    )
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor / 1.15)
    free = [p for p, c, lp in zip(polls, callback, loop, strict=True) if c == 0 or lp == 0]
    if free:
        text = f"$0 within the free tier up to {free[-1]:,} polls/job" if free == polls[: len(free)] else "$0 in places"
        _note(ax, 0.99, 0.03, text, fontsize=8.5)
    ax.yaxis.set_major_formatter(FuncFormatter(_usd))
    ax.set_ylabel("USD per month")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)


def _saving_panel(ax: Any, points: Sequence[SweepPoint]) -> None:
    """The callback's saving in percent of the loop's cost, clipped at SAVING_FLOOR."""
    polls = [p.polls_per_job for p in points]
    saving = [float("nan") if p.saving_pct is None else max(p.saving_pct, SAVING_FLOOR) for p in points]
    clipped = any(p.saving_pct is not None and p.saving_pct < SAVING_FLOOR for p in points)
    ax.plot(polls, saving, color="#2ca02c", lw=2.2, label="saving with callback")
    ax.axhline(0, color="black", lw=0.8)
    ax.fill_between(polls, saving, 0, where=[s >= 0 for s in saving], color="#2ca02c", alpha=0.12, interpolate=True)
    ax.fill_between(polls, saving, 0, where=[s < 0 for s in saving], color=LOOP_COLOR, alpha=0.12, interpolate=True)
    ax.set_ylabel("saving (loop - callback) / loop")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0f}%"))
    low = min((s for s in saving if not math.isnan(s)), default=0.0)
    ax.set_ylim(min(low, 0.0) - 12, 105)
    ax.set_xlabel("polls per job (status checks until the job ends, log scale)")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    if any(p.saving_pct is None for p in points):
        _note(ax, 0.99, 0.12 if clipped else 0.04, "no saving shown where the loop costs $0")
    if clipped:
        _note(ax, 0.99, 0.04, f"clipped at {SAVING_FLOOR:.0f}%")
    for p in points:  # label the saving at a few round numbers
        if p.polls_per_job in (1, 10, 100) and p.saving_pct is not None and p.saving_pct >= SAVING_FLOOR:
            below = p.saving_pct < 60  # the curve rises to the right: put low labels below-right
            ax.annotate(
                f"{p.saving_pct:.0f}%",
                xy=(p.polls_per_job, p.saving_pct),
                xytext=(5, -13) if below else (0, -15),
                textcoords="offset points",
                ha="left" if below else "center",
                fontsize=8.5,
                color="#1a6e1a",
            )
            ax.plot([p.polls_per_job], [p.saving_pct], "o", color="#2ca02c", ms=4)


def _mark_break_even(ax_cost: Any, ax_save: Any, break_even: BreakEven, polls: Sequence[int]) -> None:
    be = break_even.polls_per_job
    if be is not None and polls[0] <= be <= polls[-1]:
        for ax in (ax_cost, ax_save):
            ax.axvline(be, color="#555555", ls="--", lw=1.2)
        label = f"break-even ({be:,} poll{'' if be == 1 else 's'}/job)"
        ax_cost.plot([], [], color="#555555", ls="--", lw=1.2, label=label)
    ax_save.text(
        0.015,
        0.95,
        f"break-even: {break_even.message}",
        transform=ax_save.transAxes,
        va="top",
        fontsize=9,
        color="#333333",
        bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "#bbbbbb", "alpha": 0.9},
    )


def plot_sweep(
    points: Sequence[SweepPoint],
    break_even: BreakEven,
    description: Sequence[str],
    path: str | Path,
    *,
    subtitle: str = "",
) -> Path:
    """Two panels sharing a log x axis: monthly cost of both designs, then the callback's saving.

    The format follows the file's suffix (png, svg, pdf); the folder must exist.
    """
    polls = [p.polls_per_job for p in points]
    fig, (ax_cost, ax_save) = plt.subplots(
        2, 1, figsize=(9, 8.2), sharex=True, gridspec_kw={"height_ratios": [3, 2]}, layout="constrained"
    )
    fig.suptitle("Step Functions callback (task token) vs polling loop: monthly cost", fontsize=13, fontweight="bold")
    header = [part for line in [*description, subtitle] if line for part in textwrap.wrap(line, 125)]
    ax_cost.set_title("\n".join(header), fontsize=8.5, loc="left", color="#333333")
    _cost_panel(ax_cost, points)
    _saving_panel(ax_save, points)
    _mark_break_even(ax_cost, ax_save, break_even, polls)
    ax_cost.legend(loc="upper left", fontsize=9, framealpha=0.9)
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if polls[0] <= t <= polls[-1]]
    ax_save.set_xticks(ticks)
    ax_save.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    out = Path(path)
    fig.savefig(out, dpi=120, format=out.suffix.lower().lstrip(".") or "png")
    plt.close(fig)
    return out
