"""The bench's plot: poller throughput per phase, and cost per 1,000 jobs of both designs across polls
per job (matplotlib, Agg backend, imported when plotting)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def throughput_bars(scale: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(label, jobs per second) of each timed phase, in the order the bench runs them."""
    small = min(scale["pending1k"], key=lambda r: r["seconds"])
    return [
        (f"{small['due']:,} pending", small["jobsPerSecond"]),
        ("raw floor", scale["floor"]["jobsPerSecond"]),
        ("10k pending\n(1 shard)", scale["pending10k"]["jobsPerSecond"]),
        (f"10k pending\n({scale['shards4']['shards']} shards)", scale["shards4"]["jobsPerSecond"]),
        ("successes", scale["success"]["jobsPerSecond"]),
    ]


def plot_result(result: Mapping[str, Any], out_dir: Path) -> Path:
    """Write ``bench-results/bench.png`` (throughput and cost) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    bars = throughput_bars(result["scale"])
    left.bar([b[0] for b in bars], [b[1] for b in bars], color=["C0", "C7", "C0", "C1", "C2"])
    left.set_ylabel("jobs per second")
    left.set_title("Poller throughput, real executions (local cloud, 2 cores)")
    left.tick_params(axis="x", labelsize=8)
    rows = result["pricedCost"]["rows"]
    polls = [r["pollsPerJob"] for r in rows]
    right.plot(polls, [r["callbackMarginal"] for r in rows], "o-", label="callback (poller)")
    right.plot(polls, [r["loopMarginal"] for r in rows], "s-", label="polling loop")
    measured = result["cost"]["phases"]
    right.plot(
        [p["pollsPerJob"] for p in measured],
        [p["costWithAwsSizedToken"]["callbackMarginal"] for p in measured],
        "x",
        markersize=10,
        label="callback, measured",
    )
    right.set_xscale("log")
    right.set_xlabel("polls per job")
    right.set_ylabel("USD per 1,000 jobs (marginal)")
    right.set_title("Cost, 2,048-character task tokens")
    right.legend()
    fig.tight_layout()
    path = out_dir / "bench.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
