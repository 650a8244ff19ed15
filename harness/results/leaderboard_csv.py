"""The leaderboards' and their pairs' CSV files: raw numbers, one row per group or pair (blank
where a test was not run; its note says why). `leaderboard` writes them beside the Markdown."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from harness.results.aggregate import Group, Leaderboard
from harness.results.pairwise import PairComparison

CSV_FIELDS = [
    "task", "metric", "eval_set", "method", "variant", "variant_id", "model", "n_seeds", "seeds",
    "dev_mean", "dev_std", "test_mean", "test_std", "ci_low", "ci_high", "selected", "best", "not_converged",
    "reference", "is_reference", "reference_model", "n_pairs", "delta_seeds", "t_seeds_ttest", "p_seeds_ttest",
    "n_examples", "delta_examples", "p_examples_bootstrap", "examples_note", "aso_epsilon_min", "aso_note",
    "trainable_params", "peak_memory_bytes", "peak_memory_kind", "train_seconds",
    "eval_seconds_per_example",
]


def csv_text(fields: list[str], rows: Iterable[dict[str, object]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def leaderboard_csv(leaderboards: list[Leaderboard]) -> str:
    return csv_text(CSV_FIELDS, (group_row(board, g) for board in leaderboards for g in board.groups))


def group_row(board: Leaderboard, g: Group) -> dict[str, object]:
    c = g.comparison
    return {
        "task": g.task, "metric": g.metric, "eval_set": board.eval_set,
        "method": g.method, "variant": g.variant,
        "variant_id": g.variant_id, "model": g.model, "n_seeds": g.test.n,
        "seeds": " ".join(str(s) for s in g.seeds),
        "dev_mean": g.dev.mean, "dev_std": g.dev.std, "test_mean": g.test.mean, "test_std": g.test.std,
        "ci_low": g.test.ci_low, "ci_high": g.test.ci_high, "selected": g.selected, "best": g.best,
        "not_converged": "" if g.not_converged is None else g.not_converged,  # blank: not judged
        "reference": board.reference or "", "is_reference": g.is_reference,
        "reference_model": (c.reference_model or g.model) if c else "",
        "n_pairs": c.n_pairs if c else "", "delta_seeds": c.delta if c else "",
        "t_seeds_ttest": c.t_statistic if c else "", "p_seeds_ttest": c.p_value if c else "",
        **example_fields(g),
        "trainable_params": g.trainable_params, "peak_memory_bytes": g.peak_memory_bytes,
        "peak_memory_kind": g.memory_kind, "train_seconds": g.train_seconds,
        "eval_seconds_per_example": g.eval_seconds_per_example,
    }


def example_fields(group: Group) -> dict[str, object]:
    """The CSV cells of the example-level bootstrap and of ASO (blank where not run)."""
    e, a = group.example_comparison, group.stochastic_order
    return {
        "n_examples": e.n_examples if e else "", "delta_examples": e.delta if e else "",
        "p_examples_bootstrap": e.p_value if e else "", "examples_note": e.note if e else "",
        "aso_epsilon_min": a.epsilon_min if a else "", "aso_note": a.note if a else "",
    }


PAIRWISE_CSV_FIELDS = [
    "task", "metric", "eval_set", "first", "first_model", "second", "second_model", "first_test_mean",
    "second_test_mean", "n_pairs", "delta_seeds", "p_seeds_ttest", "seeds_note", "n_examples", "delta_examples",
    "p_examples_bootstrap", "examples_note", "aso_epsilon_min", "aso_note",
]


def pairwise_csv(leaderboards: list[Leaderboard]) -> str:
    """Every board's pairs, raw numbers (blank where a test was not run; the note says why)."""
    return csv_text(PAIRWISE_CSV_FIELDS, (pair_row(board, pair) for board in leaderboards for pair in board.pairs))


def pair_row(board: Leaderboard, pair: PairComparison) -> dict[str, object]:
    c, e, a = pair.seeds, pair.examples, pair.stochastic_order
    return {
        "task": board.task, "metric": board.metric, "eval_set": board.eval_set,
        "first": pair.first.label, "first_model": pair.first.model,
        "second": pair.second.label, "second_model": pair.second.model,
        "first_test_mean": pair.first.test.mean, "second_test_mean": pair.second.test.mean,
        "n_pairs": c.n_pairs, "delta_seeds": c.delta, "p_seeds_ttest": c.p_value, "seeds_note": c.note,
        "n_examples": e.n_examples, "delta_examples": e.delta, "p_examples_bootstrap": e.p_value,
        "examples_note": e.note, "aso_epsilon_min": a.epsilon_min, "aso_note": a.note,
    }
