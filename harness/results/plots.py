"""Pareto plots: test score against what it cost (trainable parameters, peak memory, train time).

One point per group (mean over seeds, bar = bootstrap CI of the mean), and the Pareto frontier:
the groups selected on dev that no other selected group beats on both axes (higher score at no
higher cost); variants not selected on dev are drawn faint and stay off the frontier. Costs span
orders of magnitude and can be zero (in-context learning trains nothing), so the x axis is symmetric-log:
logarithmic above the smallest non-zero cost, linear below it.

Uses the object-oriented Figure API, never pyplot, so it neither needs nor changes a GUI backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from harness.results.aggregate import Group, Leaderboard


@dataclass(frozen=True)
class CostAxis:
    name: str  # file name part
    label: str
    scale: float  # divide the raw value by this for display

    def value(self, group: Group) -> float:
        raw = {
            "trainable_params": group.trainable_params,
            "peak_memory": group.peak_memory_bytes,
            "train_time": group.train_seconds,
        }[self.name]
        return raw / self.scale


COST_AXES = (
    CostAxis("trainable_params", "trainable parameters", 1.0),
    CostAxis("peak_memory", "peak memory (MiB)", 2.0**20),
    CostAxis("train_time", "train time (s)", 1.0),
)


def pareto_frontier(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates (cost <= and score >=, one of them strictly),
    ordered by cost. Points with a nan coordinate are never on the frontier."""
    order = sorted(
        (i for i, (c, s) in enumerate(points) if not (math.isnan(c) or math.isnan(s))),
        key=lambda i: (points[i][0], -points[i][1]),
    )
    frontier, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            frontier.append(i)
            best = points[i][1]
    return frontier


def pareto_figure(board: Leaderboard, axis: CostAxis) -> Figure:
    groups = [g for g in board.groups if not math.isnan(g.test.mean)]  # search trials have no test score
    xs = [axis.value(g) for g in groups]
    ys = [g.test.mean for g in groups]
    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = figure.add_subplot()
    methods = sorted({g.method for g in groups})
    colors = matplotlib.colormaps["tab10"]
    for g, x, y in zip(groups, xs, ys):
        color = colors(methods.index(g.method) % 10)
        if not math.isnan(g.test.ci_low):
            ax.errorbar(x, y, yerr=[[y - g.test.ci_low], [g.test.ci_high - y]], color=color, alpha=0.5, capsize=3)
        # Variants not selected on dev are drawn faint: they are shown, but they do not compete.
        ax.scatter([x], [y], color=color, s=40, zorder=3, edgecolors="black" if g.best else "none",
                   alpha=1.0 if g.selected else 0.35)
        label = g.label + (f" · {g.model}" if len({h.model for h in groups}) > 1 else "")
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
    selected = [i for i, g in enumerate(groups) if g.selected]
    frontier = [selected[i] for i in pareto_frontier([(xs[i], ys[i]) for i in selected])]
    if len(frontier) > 1:
        ax.step([xs[i] for i in frontier], [ys[i] for i in frontier], where="post",
                color="gray", linestyle="--", linewidth=1, label="Pareto frontier", zorder=1)
        ax.legend(loc="lower right", fontsize=8)
    positive = [x for x in xs if x > 0 and not math.isnan(x)]
    if positive and max(positive) / min(positive) > 10:
        ax.set_xscale("symlog", linthresh=min(positive))
    label = axis.label
    if axis.name == "peak_memory":  # RSS on CPU and CUDA allocations are not the same quantity
        label = label.replace(")", ", " + "/".join(sorted({g.memory_kind for g in groups})) + ")")
    ax.set_xlabel(label + (" (symlog)" if ax.get_xscale() == "symlog" else ""))
    ax.set_ylabel(f"test {board.metric}")
    ax.set_title(f"{board.title}: vs {axis.label}", fontsize=10)
    ax.grid(True, alpha=0.3)
    return figure


def write_pareto_plots(board: Leaderboard, folder: Path) -> list[Path]:
    """<folder>/pareto_<cost>.png and .svg for each cost axis; no timestamps, so reruns are identical."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with matplotlib.rc_context({"svg.hashsalt": "harness-report", "svg.fonttype": "path"}):
        for axis in COST_AXES:
            figure = pareto_figure(board, axis)
            for extension in ("png", "svg"):
                path = folder / f"pareto_{axis.name}.{extension}"
                metadata = {"Date": None} if extension == "svg" else {"Software": None}
                figure.savefig(path, format=extension, dpi=150, metadata=metadata)
                written.append(path)
    return written
