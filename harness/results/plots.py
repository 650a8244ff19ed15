"""Report plots: Pareto plots of test score against cost, and learning curves of dev score.

Pareto plots: test score against what it cost (trainable parameters, peak memory, train time).

One point per group (mean over seeds, bar = bootstrap CI of the mean), and the Pareto frontier:
the groups selected on dev that no other selected group beats on both axes (higher score at no
higher cost); variants not selected on dev are drawn faint and stay off the frontier. Costs span
orders of magnitude and can be zero (in-context learning trains nothing), so the x axis is symmetric-log:
logarithmic above the smallest non-zero cost, linear below it.

Learning curves: dev score against training examples seen, one line per seed, one colour per
group (row), so seeds of a configuration read as a band and rows as colours; a run with a single
dev evaluation is a single point. Not-converged rows (`learning_curves`) carry the † in the legend.

Uses the object-oriented Figure API, never pyplot, so it neither needs nor changes a GUI backend.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from harness.results.aggregate import Group, Leaderboard
from harness.results.learning_curves import convergence_mark, curves_footnote, group_curves


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


def _group_name(group: Group, several_models: bool) -> str:
    return group.label + (f" · {group.model}" if several_models else "") + convergence_mark(group.not_converged)


def learning_curve_figure(board: Leaderboard) -> Figure | None:
    """Dev score against training examples seen for every group with a dev history; None when no
    group has one (evaluation-only methods, records that kept no history)."""
    curves = {id(g): group_curves(g.runs) for g in board.groups}
    drawn = [g for g in board.groups if curves[id(g)]]
    if not drawn:
        return None
    figure = Figure(figsize=(8.0, 4.6), layout="constrained")
    ax = figure.add_subplot()
    colors = matplotlib.colormaps["tab10" if len(drawn) <= 10 else "tab20"]
    several_models = len({g.model for g in board.groups}) > 1
    for i, g in enumerate(drawn):
        color = colors(i % colors.N)
        for j, curve in enumerate(curves[id(g)]):
            # Estimated x (an older record): dashed line, open markers, so a lone point shows it too;
            # variants not selected on dev are faint, as in the Pareto plots.
            ax.plot(curve.examples_seen, curve.scores, color=color, marker="o", markersize=4, linewidth=1.2,
                    linestyle="--" if curve.estimated else "-", markerfacecolor="white" if curve.estimated else color,
                    alpha=0.9 if g.selected else 0.35, label=_group_name(g, several_models) if j == 0 else None)
    ax.set_xlabel("training examples seen")
    ax.set_ylabel(f"dev {board.metric}")
    ax.set_title(f"{board.title}: learning curves (one line per seed)", fontsize=10)
    ax.grid(True, alpha=0.3)
    figure.legend(loc="outside right upper", fontsize=7)
    estimated = sum(c.estimated for g in drawn for c in curves[id(g)])
    undrawn = [_group_name(g, several_models) for g in board.groups if g not in drawn]
    footnote = curves_footnote(estimated, undrawn, any_marked=any(g.not_converged for g in drawn))
    if footnote:
        figure.supxlabel(textwrap.fill(footnote, 130), fontsize=7, x=0.01, ha="left")
    return figure


REPRODUCIBLE_SVG = {"svg.hashsalt": "harness-report", "svg.fonttype": "none"}  # fixed ids; text as text (a tenth the size of paths)


def save_figure(figure: Figure, folder: Path, stem: str) -> list[Path]:
    """<folder>/<stem>.png and .svg with no timestamps or version stamps, so reruns are identical."""
    written = []
    with matplotlib.rc_context(REPRODUCIBLE_SVG):
        for extension in ("png", "svg"):
            path = folder / f"{stem}.{extension}"
            metadata = {"Date": None} if extension == "svg" else {"Software": None}
            figure.savefig(path, format=extension, dpi=150, metadata=metadata)
            written.append(path)
    return written


def write_pareto_plots(board: Leaderboard, folder: Path) -> list[Path]:
    """<folder>/pareto_<cost>.png and .svg for each cost axis."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for axis in COST_AXES:
        with matplotlib.rc_context(REPRODUCIBLE_SVG):
            figure = pareto_figure(board, axis)
        written += save_figure(figure, folder, f"pareto_{axis.name}")
    return written


LEARNING_CURVES_STEM = "learning_curves"


def write_learning_curve_plot(board: Leaderboard, folder: Path) -> list[Path]:
    """<folder>/learning_curves.png and .svg, or nothing when no group has a dev history."""
    figure = learning_curve_figure(board)
    if figure is None:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    return save_figure(figure, folder, LEARNING_CURVES_STEM)
