"""PNG of the cost model's sweep over polls per job (matplotlib, Agg backend, imported lazily)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

if TYPE_CHECKING:
    from callbackctl.cost import BreakEven, SweepPoint

CALLBACK_COLOR = "#1f77b4"
LOOP_COLOR = "#d62728"
SAVING_FLOOR = -100.0  # the saving axis is clipped here; lower values are drawn at the floor


def _usd(value: float, _pos: object = None) -> str:
    if value >= 1000:
        return f"${value:,.0f}"
    if value >= 1:
        return f"${value:g}"
    return f"${value:.2g}"


def plot_sweep(
    points: Sequence[SweepPoint],
    break_even: BreakEven,
    description: Sequence[str],
    path: str | Path,
    *,
    subtitle: str = "",
) -> Path:
    """Two panels sharing a log x axis: monthly cost of both designs, then the callback's saving."""
    polls = [p.polls_per_job for p in points]
    callback = [p.callback_usd for p in points]
    loop = [p.loop_usd for p in points]
    saving = [float("nan") if p.saving_pct is None else max(p.saving_pct, SAVING_FLOOR) for p in points]
    clipped = any(p.saving_pct is not None and p.saving_pct < SAVING_FLOOR for p in points)

    fig, (ax_cost, ax_save) = plt.subplots(
        2, 1, figsize=(9, 8.2), sharex=True, gridspec_kw={"height_ratios": [3, 2]}, layout="constrained"
    )
    fig.suptitle("Step Functions callback (task token) vs polling loop: monthly cost", fontsize=13, fontweight="bold")
    header = [part for line in [*description, subtitle] if line for part in textwrap.wrap(line, 125)]
    ax_cost.set_title("\n".join(header), fontsize=8.5, loc="left", color="#333333")

    positive = [v for v in callback + loop if v > 0]
    log_y = bool(positive) and max(positive) / min(positive) > 20
    floor = min(positive) / 2 if log_y else 0.0
    # on a log axis a $0 month (all within the free tier) is drawn along the bottom edge
    ax_cost.plot(
        polls, [max(v, floor) for v in loop], color=LOOP_COLOR, lw=2.2, label="polling loop (Wait -> Check -> Choice)"
    )
    ax_cost.plot(
        polls,
        [max(v, floor) for v in callback],
        color=CALLBACK_COLOR,
        lw=2.2,
        label="callback (task token + scheduled poller)",
    )
    ax_cost.set_xscale("log")
    if log_y:
        ax_cost.set_yscale("log")
        ax_cost.set_ylim(bottom=floor / 1.15)
    free = [p for p, c, lp in zip(polls, callback, loop, strict=True) if c == 0 or lp == 0]
    if free:
        ax_cost.text(
            0.99,
            0.03,
            f"$0 within the free tier up to {free[-1]:,} polls/job" if free == polls[: len(free)] else "$0 in places",
            transform=ax_cost.transAxes,
            ha="right",
            fontsize=8.5,
            color="#666666",
        )
    ax_cost.yaxis.set_major_formatter(FuncFormatter(_usd))
    ax_cost.set_ylabel("USD per month")
    ax_cost.grid(True, which="major", alpha=0.35)
    ax_cost.grid(True, which="minor", alpha=0.12)

    ax_save.plot(polls, saving, color="#2ca02c", lw=2.2, label="saving with callback")
    ax_save.axhline(0, color="black", lw=0.8)
    ax_save.fill_between(
        polls, saving, 0, where=[s >= 0 for s in saving], color="#2ca02c", alpha=0.12, interpolate=True
    )
    ax_save.fill_between(
        polls, saving, 0, where=[s < 0 for s in saving], color=LOOP_COLOR, alpha=0.12, interpolate=True
    )
    ax_save.set_ylabel("saving (loop - callback) / loop")
    ax_save.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0f}%"))
    low = min((s for s in saving if not math.isnan(s)), default=0.0)
    ax_save.set_ylim(min(low, 0.0) - 12, 105)
    ax_save.set_xlabel("polls per job (status checks until the job ends, log scale)")
    ax_save.grid(True, which="major", alpha=0.35)
    ax_save.grid(True, which="minor", alpha=0.12)
    if any(p.saving_pct is None for p in points):
        ax_save.text(
            0.99,
            0.12 if clipped else 0.04,
            "no saving shown where the loop costs $0",
            transform=ax_save.transAxes,
            ha="right",
            fontsize=8,
            color="#666666",
        )
    if clipped:
        ax_save.text(
            0.99,
            0.04,
            f"clipped at {SAVING_FLOOR:.0f}%",
            transform=ax_save.transAxes,
            ha="right",
            fontsize=8,
            color="#666666",
        )

    be = break_even.polls_per_job
    if be is not None and polls[0] <= be <= polls[-1]:
        for ax in (ax_cost, ax_save):
            ax.axvline(be, color="#555555", ls="--", lw=1.2)
        ax_cost.plot(
            [], [], color="#555555", ls="--", lw=1.2, label=f"break-even ({be:,} poll{'' if be == 1 else 's'}/job)"
        )
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
    for p in points:  # label the saving at a few round numbers
        if p.polls_per_job in (1, 10, 100) and p.saving_pct is not None and p.saving_pct >= SAVING_FLOOR:
            low = p.saving_pct < 60  # the curve rises to the right: put low labels below-right
            ax_save.annotate(
                f"{p.saving_pct:.0f}%",
                xy=(p.polls_per_job, p.saving_pct),
                xytext=(5, -13) if low else (0, -15),
                textcoords="offset points",
                ha="left" if low else "center",
                fontsize=8.5,
                color="#1a6e1a",
            )
            ax_save.plot([p.polls_per_job], [p.saving_pct], "o", color="#2ca02c", ms=4)
    ax_cost.legend(loc="upper left", fontsize=9, framealpha=0.9)
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if polls[0] <= t <= polls[-1]]
    ax_save.set_xticks(ticks)
    ax_save.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))

    out = Path(path)
    if out.parent != Path(""):
        out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, format="png")
    plt.close(fig)
    return out
