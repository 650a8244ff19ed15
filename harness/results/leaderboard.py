"""Leaderboard tables in Markdown, CSV and LaTeX (the HTML page reuses `leaderboard_table`; the
leaderboards' and pairs' CSV cells are `leaderboard_csv`'s).

Markdown, LaTeX and HTML show rounded, human-readable cells; CSV keeps the raw numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

from harness.results.aggregate import Group, Leaderboard
from harness.results.seed_statistics import PairedComparison, Statistics, StochasticOrder
from harness.results.collect import UnfinishedRun
from harness.results.example_significance import ExampleComparison
from harness.results.leaderboard_csv import csv_text, leaderboard_csv, pairwise_csv
from harness.results.learning_curves import convergence_mark, convergence_note
from harness.results.pairwise import PAIRWISE_HEADERS, PairComparison, pair_label
from harness.results.published import PUBLISHED_HEADERS, PUBLISHED_NOTE, published_beside, published_rows


def _plain(text: str) -> str:
    return text


def fmt_score(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4f}"


def fmt_p(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def fmt_count(value: float) -> str:
    """Parameter counts: 0, 950, 12.3K, 4.19M, 1.24B."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.0f}"


def fmt_bytes(value: float) -> str:
    if math.isnan(value) or value <= 0:
        return ""
    gib = value / 2**30
    return f"{gib:.2f} GiB" if gib >= 1 else f"{value / 2**20:.0f} MiB"


def fmt_seconds(value: float) -> str:
    if math.isnan(value):
        return ""
    if value >= 3600:
        return f"{value / 3600:.1f} h"
    return f"{value / 60:.1f} min" if value >= 60 else f"{value:.1f} s"


def fmt_latency(seconds: float) -> str:
    """Per-example evaluation time: 4.2 ms, 1.30 s."""
    if math.isnan(seconds):
        return ""
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "task"


def board_slugs(leaderboards: list[Leaderboard]) -> dict[int, str]:
    """A file-name-safe name per leaderboard: the task, plus the metric when a task has several, plus
    the evaluation set when a task has several."""
    metrics = {(b.task, b.metric) for b in leaderboards}
    names = {}
    for b in leaderboards:
        name = b.task if sum(task == b.task for task, _ in metrics) == 1 else f"{b.task}-{b.metric}"
        names[id(b)] = slug(name + (f"-{b.eval_set}" if b.eval_set else ""))
    return names


def seed_delta_text(c: PairedComparison) -> str:
    """Δ over the paired seeds, with the number of pairs, or why there are none."""
    if c.n_pairs == 0:
        return f"n/a ({c.note})"
    pairs = f"{c.n_pairs} pair" + ("s" if c.n_pairs > 1 else "")
    if c.reference_model:
        pairs += f", vs {c.reference_model}"
    return f"{c.delta:+.4f} ({pairs})"


def seed_p_text(c: PairedComparison) -> str:
    """p of the seed-level paired t-test, or why there is none (blank without pairs: Δ says why)."""
    if c.n_pairs == 0:
        return ""
    return f"n/a ({c.note})" if math.isnan(c.p_value) else fmt_p(c.p_value)


def example_text(e: ExampleComparison) -> str:
    """p of the paired bootstrap over test examples, with its own Δ and example count, or why none."""
    return e.note if math.isnan(e.p_value) else f"{fmt_p(e.p_value)} (Δ {e.delta:+.4f}, {e.n_examples} ex.)"


def stochastic_order_text(a: StochasticOrder) -> str:
    """ε_min of ASO over the seeds, or why it was not computed."""
    return f"n/a ({a.note})" if math.isnan(a.epsilon_min) else f"{a.epsilon_min:.3f}"


def comparison_cell(group: Group) -> str:
    if group.is_reference:
        return "reference"
    return "" if group.comparison is None else seed_delta_text(group.comparison)


def seed_test_cell(group: Group) -> str:
    return "" if group.comparison is None or group.is_reference else seed_p_text(group.comparison)


def example_test_cell(group: Group) -> str:
    return "" if group.example_comparison is None else example_text(group.example_comparison)


def stochastic_order_cell(group: Group) -> str:
    return "" if group.stochastic_order is None else stochastic_order_text(group.stochastic_order)


def leaderboard_table(
    board: Leaderboard,
    escape: Callable[[str], str] = _plain,
    pm: str = " ± ",
    star: str = "★",
    bold: Callable[[str], str] = _plain,
) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of display cells, already escaped for the target format."""
    show_variant = any(g.variant for g in board.groups)
    memory_kinds = {g.memory_kind for g in board.groups}
    memory_header = "peak memory" + (f" ({memory_kinds.pop()})" if len(memory_kinds) == 1 else "")
    headers = ["best", "method"] + (["variant", "selected on dev"] if show_variant else []) + [
        "model", "n", f"dev {board.metric}", f"test {board.metric}", "95% CI",
    ]
    if board.reference is not None:
        headers += [f"Δ vs {board.reference} (seeds)", "p (seeds, t-test)", "p (examples, paired bootstrap)",
                    "ε_min (ASO, seeds)"]
    headers += ["trainable params", memory_header, "train time", "eval time / example"]
    rows = []
    for g in board.groups:
        test = escape(fmt_score(g.test.mean)) + (pm + escape(fmt_score(g.test.std)) if g.test.n > 1 else "")
        ci = "" if math.isnan(g.test.ci_low) else f"[{fmt_score(g.test.ci_low)}, {fmt_score(g.test.ci_high)}]"
        memory = fmt_bytes(g.peak_memory_bytes) + (f" ({g.memory_kind})" if len(memory_kinds) > 1 else "")
        variant = [escape(g.variant), "yes" if g.selected else ""] if show_variant else []
        row = [star if g.best else "", escape(g.method + convergence_mark(g.not_converged))] + variant + [
            escape(g.model), str(len(g.runs)), escape(fmt_score(g.dev.mean)),
            bold(test) if g.best else test, escape(ci),
        ]
        if board.reference is not None:
            row += [escape(cell(g)) for cell in (comparison_cell, seed_test_cell, example_test_cell,
                                                 stochastic_order_cell)]
        row += [escape(fmt_count(g.trainable_params)), escape(memory), escape(fmt_seconds(g.train_seconds)),
                escape(fmt_latency(g.eval_seconds_per_example))]
        rows.append(row)
    return headers, rows


FAILED_HEADERS = ["status", "run id", "sweep", "task", "model", "method", "seed", "error / reason", "message"]


def failed_table(runs: list[UnfinishedRun], escape: Callable[[str], str] = _plain) -> list[list[str]]:
    return [
        [escape(str(v)) for v in (r.status, r.run_id, r.sweep, r.task, r.model, r.method,
                                  "" if r.seed is None else r.seed, r.reason, r.message)]
        for r in runs
    ]


def pair_rows(pairs: list[PairComparison], escape: Callable[[str], str] = _plain) -> list[list[str]]:
    """One row per pair: the better side, the other, then the three tests (as the reference columns)."""
    return [[escape(cell) for cell in (
        pair_label(pair.first), pair_label(pair.second), seed_delta_text(pair.seeds), seed_p_text(pair.seeds),
        example_text(pair.examples), stochastic_order_text(pair.stochastic_order),
    )] for pair in pairs]


def pairwise_note(pairs: list[PairComparison]) -> str:
    return (f"Every pair of the selected variants above ({len(pairs)} pair{'s' * (len(pairs) != 1)}), the one with "
            "the higher test mean first: the same three tests as the reference columns, Δ = first minus other. "
            "No correction for multiple comparisons: with many pairs, correct (e.g. Holm-Bonferroni) before "
            "concluding.")


def statistics_note(statistics: Statistics, reference: str | None) -> str:
    note = (
        f"test = mean ± sample std (ddof=1) over seeds; {statistics.confidence:.0%} CI = percentile bootstrap of "
        f"the mean over seeds ({statistics.resamples:,} resamples, RNG seed {statistics.rng_seed}; "
        f"blank for one seed); a method's variants (configs differing in more than the seed) are chosen "
        f"between on dev mean only (selected on dev); ★ = best test mean among the selected variants; eval time / example = a run's evaluation wall "
        f"time over the examples it scored, batched as its config says (mean over seeds; blank where a record "
        f"did not time it)."
    )
    if reference is not None:
        note += (
            f" Δ = mean paired difference to {reference} (its variant selected on dev) over shared seeds on the same "
            f"model, or on the one model {reference} ran on when named. p (seeds, t-test): two-sided paired t-test "
            f"over those seeds; n/a with fewer than two pairs. p (examples, paired bootstrap): two-sided paired "
            f"bootstrap over test examples (Koehn 2004), pooled over seeds: {statistics.resamples:,} resamples of "
            f"the test examples paired by id (RNG seed {statistics.rng_seed}), the metric recomputed on each for "
            f"every seed of both methods and averaged per method; p = twice the share of resamples in which the "
            f"observed advantage disappears (the smaller tail), Δ = the seed-averaged difference on the paired "
            f"examples; \"no predictions\" for records without per-example predictions. ε_min (ASO, seeds): Almost "
            f"Stochastic Order (Dror et al. 2019, deepsig) of the method's seed scores over {reference}'s, "
            f"confidence {statistics.confidence:.0%}, {statistics.aso_iterations} bootstrap iterations, seed "
            f"{statistics.rng_seed}; < 0.5: the method is better, near 0: it dominates, ≥ 0.5: not shown better; "
            f"needs at least 3 seeds on each side."
        )
    return note


def board_note(board: Leaderboard, statistics: Statistics) -> str:
    """The note under one leaderboard: how its numbers are computed, then what its † marks mean."""
    convergence = convergence_note([g.not_converged for g in board.groups])
    return statistics_note(statistics, board.reference) + (f" {convergence}" if convergence else "")


# Markdown ---------------------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_grid(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def leaderboard_markdown(board: Leaderboard, statistics: Statistics) -> str:
    headers, rows = leaderboard_table(board, escape=_md_escape, bold=lambda s: f"**{s}**")
    title = f"## {board.title}\n\n"
    text = title + markdown_grid(headers, rows) + "\n\n" + board_note(board, statistics) + "\n"
    if board.pairs:
        text += "\n" + markdown_grid(PAIRWISE_HEADERS, pair_rows(board.pairs, _md_escape)) + "\n\n"
        text += pairwise_note(board.pairs) + "\n"
    published = published_beside(board)
    if published:
        cells = [[_md_escape(cell) for cell in row] for row in published_rows(published)]
        text += "\n" + markdown_grid(PUBLISHED_HEADERS, cells) + "\n\n" + PUBLISHED_NOTE + "\n"
    return text


def failed_markdown(runs: list[UnfinishedRun]) -> str:
    if not runs:
        return "## Failed and incomplete runs\n\nNone.\n"
    grid = markdown_grid(FAILED_HEADERS, failed_table(runs, _md_escape))
    return "## Failed and incomplete runs\n\nNot counted in any leaderboard.\n\n" + grid + "\n"


# CSV --------------------------------------------------------------------------------------------

def failed_csv(runs: list[UnfinishedRun]) -> str:
    fields = FAILED_HEADERS + ["path"]
    rows = (dict(zip(fields, row + [str(run.path)])) for row, run in zip(failed_table(runs), runs))
    return csv_text(fields, rows)


# LaTeX ------------------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
    ">": r"\textgreater{}", "Δ": r"$\Delta$", "±": r"$\pm$", "★": r"$\star$", "†": r"\dag{}",
    "ε": r"$\varepsilon$", "≥": r"$\geq$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def leaderboard_latex(board: Leaderboard, statistics: Statistics) -> str:
    """A booktabs table (needs \\usepackage{booktabs})."""
    headers, rows = leaderboard_table(
        board, escape=latex_escape, pm=r" $\pm$ ", star=r"$\star$", bold=lambda s: rf"\textbf{{{s}}}"
    )
    numeric = {"n", "trainable params", "train time", "eval time / example"}
    align = "".join("r" if h in numeric or h.startswith(("dev ", "test ", "peak")) else "l" for h in headers)
    lines = [
        "% Generated by harness.report; needs \\usepackage{booktabs}.",
        r"\begin{table}[ht]", r"\centering", r"\small", rf"\begin{{tabular}}{{{align}}}", r"\toprule",
        " & ".join(latex_escape(h) for h in headers) + r" \\", r"\midrule",
    ]
    lines += [" & ".join(row) + r" \\" for row in rows]
    lines += [
        r"\bottomrule", r"\end{tabular}",
        rf"\caption{{{latex_escape(board.title)}. "
        rf"{latex_escape(board_note(board, statistics))}}}",
        rf"\label{{tab:{slug(board.task)}-{slug(board.metric)}{'-' + slug(board.eval_set) if board.eval_set else ''}}}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


# Files ------------------------------------------------------------------------------------------


def write_tables(
    leaderboards: list[Leaderboard], unfinished: list[UnfinishedRun], notes: list[str],
    out: Path, statistics: Statistics,
) -> list[Path]:
    """Per task: <out>/<task>/leaderboard.{md,csv,tex}; all together: <out>/leaderboard.{md,csv}; every
    board's pairs of selected variants: <out>/pairwise.csv; failed and incomplete runs: <out>/failed_runs.{md,csv}."""
    written: list[Path] = []

    def write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    slugs = board_slugs(leaderboards)
    for board in leaderboards:
        folder = out / slugs[id(board)]
        write(folder / "leaderboard.md", "# " + leaderboard_markdown(board, statistics)[3:])
        write(folder / "leaderboard.csv", leaderboard_csv([board]))
        write(folder / "leaderboard.tex", leaderboard_latex(board, statistics))
    sections = ["# Leaderboards\n"] + [leaderboard_markdown(board, statistics) for board in leaderboards]
    if not leaderboards:
        sections.append("No completed runs.\n")
    sections.append(failed_markdown(unfinished))
    if notes:
        sections.append("## Notes\n\n" + "\n".join(f"- {_md_escape(note)}" for note in notes) + "\n")
    write(out / "leaderboard.md", "\n".join(sections))
    write(out / "leaderboard.csv", leaderboard_csv(leaderboards))
    if any(board.pairs for board in leaderboards):
        write(out / "pairwise.csv", pairwise_csv(leaderboards))
    write(out / "failed_runs.md", failed_markdown(unfinished))
    write(out / "failed_runs.csv", failed_csv(unfinished))
    return written
