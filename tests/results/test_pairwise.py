"""Every pair of a leaderboard's selected variants: which pairs, which side first, and the same tests
as the reference columns."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
from scipy import stats

from harness.results.aggregate import build_leaderboards
from harness.results.seed_statistics import Statistics
from harness.results.collect import collect
from harness.results.example_significance import PredictionFiles, find_prediction_files
from harness.results.pairwise import compare_pairs, pair_label
from harness.results.record import RunResult, run_dir, run_id_for, write_predictions, write_result
from harness.results.report import write_report

QUICK = Statistics(resamples=500, aso_iterations=200)
LORA_TEST, IA3_TEST, FULL_TEST = {1: 0.80, 2: 0.84, 3: 0.88}, {1: 0.78, 2: 0.80, 3: 0.85}, {1: 0.90, 2: 0.91, 3: 0.93}


def test_every_pair_of_selected_variants_is_tested_better_side_first(make_record):
    records = [make_record("lora", s, LORA_TEST[s], 0.7) for s in (1, 2, 3)]
    records += [make_record("ia3", s, IA3_TEST[s], 0.7) for s in (1, 2, 3)]
    records += [make_record("full", s, FULL_TEST[s], 0.8) for s in (1, 2, 3)]
    # A losing variant (lower dev) and a search trial (dev only) are not compared.
    records += [make_record("full", s, 0.99, 0.5, config={"lr": 0.1}) for s in (1, 2, 3)]
    records += [make_record("ptec", 1, None, 0.99)]  # its own method: selected, but nothing to test on
    (board,), _ = build_leaderboards(records)
    pairs = compare_pairs(board, QUICK, PredictionFiles({}))
    named = [(p.first.method, p.second.method) for p in pairs]
    assert sorted(named) == [("full", "ia3"), ("full", "lora"), ("lora", "ia3")]
    assert all(g.selected and g.method != "ptec" for p in pairs for g in (p.first, p.second))
    lora_ia3 = pairs[named.index(("lora", "ia3"))]
    differences = [LORA_TEST[s] - IA3_TEST[s] for s in (1, 2, 3)]
    assert lora_ia3.seeds.delta == pytest.approx(sum(differences) / 3)
    expected = stats.ttest_rel([LORA_TEST[s] for s in (1, 2, 3)], [IA3_TEST[s] for s in (1, 2, 3)])
    assert lora_ia3.seeds.p_value == pytest.approx(expected.pvalue)
    assert lora_ia3.examples.note == "no predictions" and math.isnan(lora_ia3.examples.p_value)
    full_ia3 = pairs[named.index(("full", "ia3"))]
    assert full_ia3.stochastic_order.epsilon_min < 0.1  # every seed of full above every seed of ia3


def test_a_board_with_one_selected_variant_has_no_pairs(make_record):
    records = [make_record("lora", s, test, 0.7) for s, test in ((1, 0.8), (2, 0.82))]
    records += [make_record("lora", 1, 0.9, 0.6, config={"r": 4})]  # the other variant loses on dev
    (board,), _ = build_leaderboards(records)
    assert compare_pairs(board, QUICK, PredictionFiles({})) == []


def write_run(root: Path, method: str, seed: int, right: int, n: int = 60) -> None:
    """An exact-match run right on its first `right` of `n` test questions, with its predictions."""
    config = {"task": "qa", "model": "m", "method": {"name": method}, "seed": seed}
    score = {"exact_match": right / n}
    result = RunResult(run_id=run_id_for(config), status="completed", sweep="s", task="qa", model="m", method=method,
                       seed=seed, config=config, primary_metric="exact_match",
                       metrics={"dev": dict(score), "test": dict(score)})
    folder = run_dir(root, result.sweep, result.run_id)
    write_result(result, folder)
    write_predictions([{"split": split, "id": f"q{i}", "gold": ["yes"], "prediction": "yes" if i < right else "no",
                        "score": 1} for split in ("dev", "test") for i in range(n)], folder)


@pytest.fixture
def three_methods(tmp_path) -> Path:
    root = tmp_path / "results"
    for seed in (1, 2, 3):
        write_run(root, "full", seed, 55 + seed)
        write_run(root, "lora", seed, 40 + 2 * seed)  # differences to full vary: a t-test has a variance
        write_run(root, "ia3", seed, 30 + seed)
    return root


def test_a_pair_with_the_reference_gives_what_the_reference_columns_give(three_methods):
    files = PredictionFiles(find_prediction_files(three_methods))
    (board,), _ = build_leaderboards(collect(three_methods).completed, "lora", QUICK, files)
    pairs = compare_pairs(board, QUICK, files)
    by_name = {(p.first.method, p.second.method): p for p in pairs}
    full = next(g for g in board.groups if g.method == "full")
    against_reference = by_name[("full", "lora")]
    assert against_reference.examples.p_value == full.example_comparison.p_value
    assert against_reference.examples.delta == pytest.approx(full.example_comparison.delta)
    assert against_reference.seeds.p_value == pytest.approx(full.comparison.p_value)
    assert against_reference.stochastic_order.epsilon_min == full.stochastic_order.epsilon_min
    # The pair the reference columns cannot show: full against ia3, on the same 60 test questions.
    beyond = by_name[("full", "ia3")]
    assert beyond.examples.n_examples == 60 and beyond.examples.p_value < 0.01
    assert beyond.examples.delta == pytest.approx((57 - 32) / 60)
    assert pair_label(beyond.second) == "ia3 · m"


def test_the_report_writes_the_pair_table_and_csv_unless_told_not_to(three_methods, tmp_path):
    out = tmp_path / "report"
    write_report(three_methods, out, None, QUICK, plots=False)
    markdown = (out / "leaderboard.md").read_text()
    assert "| better (test mean) | other |" in markdown and "(3 pairs)" in markdown
    rows = list(csv.DictReader(io.StringIO((out / "pairwise.csv").read_text())))
    assert [(r["first"], r["second"]) for r in rows] == [("full", "lora"), ("full", "ia3"), ("lora", "ia3")]
    assert float(rows[2]["delta_examples"]) == pytest.approx((44 - 32) / 60)
    assert "better (test mean)" in (out / "report.html").read_text()

    bare = tmp_path / "bare"
    write_report(three_methods, bare, None, QUICK, plots=False, pairwise=False)
    assert "better (test mean)" not in (bare / "leaderboard.md").read_text()
    assert not (bare / "pairwise.csv").exists()
