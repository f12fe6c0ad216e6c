"""Matplotlib figures for the results (Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from grasp_agent.utils import atomic_write  # noqa: E402

_FIGSIZE = (6.0, 3.6)


def bar_chart(labels: Sequence[str], values: Sequence[float], ylabel: str, title: str) -> Any:
    """One bar per label (e.g. success rate per planner)."""
    fig, ax = plt.subplots(figsize=_FIGSIZE)
    ax.bar(list(labels), [0.0 if v is None else v for v in values], color="tab:blue")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], xlabel: str,
               ylabel: str, title: str, logy: bool = False) -> Any:
    """One line per series name: ``{name: (xs, ys)}`` (``None``/NaN points are skipped).

    A series keeps the colour of its position in ``series`` even when an earlier one has no
    points, so the same planner has the same colour in every figure drawn from the same rows.
    """
    fig, ax = plt.subplots(figsize=_FIGSIZE)
    for i, (name, (xs, ys)) in enumerate(series.items()):
        pts = [(x, y) for x, y in zip(xs, ys) if y is not None and y == y]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name, color=f"C{i % 10}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if logy and ax.lines:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_png(fig: Any, path: str | Path) -> Path:
    """Save ``fig`` as a PNG at ``path`` atomically (a crash leaves no half-written image); close it."""
    path = Path(path)
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def planner_bars(title: str, rows: Sequence[dict[str, Any]], with_time: bool) -> dict[str, Any]:
    """Bar charts of one-cell planner rows (quickstart, minigrid): ``{"success": fig, ...}``.

    ``rows`` carry ``planner``, ``mode``, ``tasks``, ``success_rate`` and, for ``with_time``,
    ``median_plan_time_s``.
    """
    labels = [f"{r['planner']} ({r['mode']})" for r in rows]
    tasks = max((int(r["tasks"]) for r in rows), default=0)
    figs = {"success": bar_chart(labels, [r["success_rate"] for r in rows], "success rate",
                                 f"{title}: executed success, {tasks} tasks")}
    if with_time:
        figs["plan_time"] = bar_chart(labels, [r["median_plan_time_s"] for r in rows], "seconds",
                                      "median planning time per task")
    return figs
