"""Score against a swept setting: the plot of a context study or a learning-rate search.

Where a method's variants on one leaderboard differ in exactly one numeric setting with at least
three values (the number of demonstrations k, a learning rate, a prefix length m) and in at most a
few values of other settings (an instruction on or off, a loss), the report draws the score against
that setting: one line per method and combination of the other settings, the mean over seeds with
the sample std as bars. SIFT's context study (span F1 against k, instruction on and off, for icl
and sift) is this plot; so is a learning-rate search's curve. The y axis is the test score when
every point has one, else dev (search trials never read test). Written here: a choice of which
records to plot; the drawing is matplotlib's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from harness.results.aggregate import Group, Leaderboard
from harness.results.configurations import differing_keys, experiment_config
from harness.results.plots import REPRODUCIBLE_SVG, save_figure

SETTING_CURVES_STEM = "setting_curves"
MIN_POINTS = 3   # fewer is a comparison, not a curve
MAX_LINES = 4    # values of the other differing settings: more would be a grid, not a line plot


@dataclass
class SettingLine:
    label: str  # the method, and the other settings' values that set this line apart
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)  # sample std over seeds; 0 for one seed


@dataclass
class SettingCurves:
    key: str    # the swept setting's config key, e.g. method.k
    split: str  # "test" or "dev"
    lines: list[SettingLine]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _method_curves(groups: list[Group]) -> tuple[str, list[tuple[tuple, Group, float]]] | None:
    """The swept key and (other settings' values, group, x) for one method's variants; None when
    they do not differ in exactly one numeric setting with enough values."""
    configs = [experiment_config(g.runs[0]) for g in groups]
    differing = differing_keys(configs)
    numeric = [k for k in differing if all(_is_number(c.get(k)) for c in configs)]
    if len(numeric) != 1 or len({c[numeric[0]] for c in configs}) < MIN_POINTS:
        return None
    key, others = numeric[0], [k for k in differing if k != numeric[0]]
    if len({tuple(json.dumps(c.get(k), default=str) for k in others) for c in configs}) > MAX_LINES:
        return None
    points = [(tuple((k, c.get(k)) for k in others), g, float(c[key])) for c, g in zip(configs, groups)]
    return key, points


def setting_curves(board: Leaderboard) -> list[SettingCurves]:
    """One entry per swept setting on this board, its lines from every method that sweeps it."""
    by_method: dict[tuple[str, str], list[Group]] = {}
    for group in board.groups:
        by_method.setdefault((group.method, group.model), []).append(group)
    several_models = len({model for _, model in by_method}) > 1
    found: dict[str, list[tuple[str, list]]] = {}
    for (method, model), groups in sorted(by_method.items()):
        curve = _method_curves(groups) if len(groups) >= MIN_POINTS else None
        if curve is not None:
            name = method + (f" · {model}" if several_models else "")
            found.setdefault(curve[0], []).append((name, curve[1]))
    result = []
    for key, methods in sorted(found.items()):
        groups = [g for _, points in methods for _, g, _ in points]
        split = "test" if all(not math.isnan(g.test.mean) for g in groups) else "dev"
        lines = []
        for name, points in methods:
            for others in sorted({p[0] for p in points}, key=str):
                label = name + "".join(f", {k.rsplit('.', 1)[-1]}={v}" for k, v in others)
                line = SettingLine(label)
                for _, g, x in sorted((p for p in points if p[0] == others), key=lambda p: p[2]):
                    summary = g.test if split == "test" else g.dev
                    line.xs.append(x)
                    line.ys.append(summary.mean)
                    line.errors.append(0.0 if summary.n < 2 or math.isnan(summary.std) else summary.std)
                lines.append(line)
        result.append(SettingCurves(key, split, lines))
    return result


def setting_figure(board: Leaderboard, curves: list[SettingCurves]) -> Figure:
    figure = Figure(figsize=(5.2 * len(curves) + 2.0, 4.4), layout="constrained")
    axes = figure.subplots(1, len(curves), squeeze=False)[0]
    colors = matplotlib.colormaps["tab10"]
    for ax, curve in zip(axes, curves):
        for i, line in enumerate(curve.lines):
            ax.errorbar(line.xs, line.ys, yerr=line.errors, color=colors(i % 10), marker="o", markersize=4,
                        linewidth=1.2, capsize=3, label=line.label)
        xs = [x for line in curve.lines for x in line.xs]
        if min(xs) > 0 and max(xs) / min(xs) > 20:  # learning rates, prefix lengths
            ax.set_xscale("log")
        ax.set_xlabel(curve.key)
        ax.set_ylabel(f"{curve.split} {board.metric}")
        ax.set_title(f"{board.title}: against {curve.key}", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    figure.supxlabel("mean over seeds; bars: sample std over seeds (none for one seed)", fontsize=7)
    return figure


def write_setting_curves_plot(board: Leaderboard, folder: Path) -> list[Path]:
    """<folder>/setting_curves.png and .svg, or nothing when no method sweeps a numeric setting."""
    curves = setting_curves(board)
    if not curves:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(REPRODUCIBLE_SVG):
        figure = setting_figure(board, curves)
    return save_figure(figure, folder, SETTING_CURVES_STEM)
