"""Significance beyond seed pairs: the paired bootstrap over test examples (from per-example
sufficient statistics) and Almost Stochastic Order over seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.metrics.multi_label import multi_label_scores
from harness.metrics.single_label import single_label_scores
from harness.metrics.span_f1 import span_scores
from harness.metrics.token_accuracy import token_scores
from harness.results.aggregate import build_leaderboards
from harness.results.seed_statistics import Statistics, almost_stochastic_order
from harness.results.collect import collect
from harness.results.example_significance import (
    PredictionFiles,
    find_prediction_files,
    paired_bootstrap,
)
from harness.results.example_statistics import corpus_metric, mean_metric
from harness.results.leaderboard import fmt_p, leaderboard_table
from harness.results.leaderboard_csv import leaderboard_csv
from harness.results.record import RunResult, read_result, run_dir, run_id_for, write_predictions, write_result

COMMITTED = Path(__file__).resolve().parents[2] / "results"
COMMITTED_PREDICTIONS = sorted(COMMITTED.glob("*/*/predictions.jsonl"))
# MC rows keep each choice's log-likelihood to 4 decimals, which moves MC2 by ~1e-6; all else is exact.
TOLERANCE = {"mc2": 1e-5}


def record(metrics: dict, primary: str, task: dict | str = "toy", method: str = "lora", seed: int = 1) -> RunResult:
    config = {"task": task, "method": {"name": method}, "seed": seed}
    return RunResult(run_id=run_id_for(config), status="completed", sweep="s", task="toy", model="m", method=method,
                     seed=seed, config=config, primary_metric=primary, metrics={"dev": dict(metrics),
                                                                                "test": dict(metrics)})


def corpus_score(result: RunResult, metric: str, rows: list[dict], weights=None) -> float:
    definition = corpus_metric(result, metric)
    values = definition.statistics(rows)
    weights = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=float)
    return float(definition.score(weights @ values))


# Each metric from its sufficient statistics equals the recorded / reference metric ---------------


@pytest.mark.parametrize("path", COMMITTED_PREDICTIONS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_statistics_give_back_every_committed_record_s_test_scores(path):
    # hatespeech (multi-label macro/micro-F1, jaccard), clutrr (exact match), TruthfulQA (acc, MC1, MC2),
    # CoNLL NER (span F1 of a record written before the conlleval reading: strict spans). A search
    # trial (evaluate_test=false) has dev only: its dev scores are checked instead.
    result = read_result(path.parent / "result.json")
    split = "test" if "test" in result.metrics else "dev"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    test_rows = [row for row in rows if row["split"] == split]
    checked = 0
    for metric, recorded in result.metrics[split].items():
        if isinstance(recorded, float) and corpus_metric(result, metric) is not None:
            assert corpus_score(result, metric, test_rows) == pytest.approx(recorded, abs=TOLERANCE.get(metric, 1e-12))
            checked += 1
    assert checked >= 1


def test_committed_records_cover_the_metrics_with_predictions():
    metrics = {m for p in COMMITTED_PREDICTIONS for m in read_result(p.parent / "result.json").metrics.get("test", {})}
    assert {"span_f1", "exact_match", "mc1", "mc2", "acc", "macro_f1", "micro_f1"} <= metrics


SENTENCES = [  # (prediction, gold): a stray I- tag, a wrong type, a miss, an exact hit, no spans
    (["I-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"]),
    (["B-LOC", "O", "B-ORG"], ["B-ORG", "O", "B-ORG"]),
    (["O", "O"], ["B-MISC", "I-MISC"]),
    (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),
    (["O"], ["O"]),
]


def tag_rows() -> list[dict]:
    return [{"id": str(i), "prediction": p, "gold": g} for i, (p, g) in enumerate(SENTENCES)]


def test_span_f1_reads_spans_as_the_record_did():
    predictions, gold = [p for p, _ in SENTENCES], [g for _, g in SENTENCES]
    expected = span_scores(predictions, gold)
    conlleval = record({"span_f1": expected["span_f1"], "span_f1_strict": expected["span_f1_strict"]}, "span_f1")
    assert corpus_score(conlleval, "span_f1", tag_rows()) == expected["span_f1"]
    assert corpus_score(conlleval, "span_f1_strict", tag_rows()) == expected["span_f1_strict"]
    older = record({"span_f1": expected["span_f1_strict"]}, "span_f1")  # written before the conlleval reading
    assert corpus_score(older, "span_f1", tag_rows()) == expected["span_f1_strict"]
    assert expected["span_f1"] != expected["span_f1_strict"]  # the stray I-PER makes the two differ


def test_token_accuracy_pools_tokens_over_sentences():
    predictions, gold = [p for p, _ in SENTENCES], [g for _, g in SENTENCES]
    expected = token_scores(predictions, gold)["token_accuracy"]
    assert corpus_score(record({}, "token_accuracy"), "token_accuracy", tag_rows()) == pytest.approx(expected)


LABELS = ["neg", "neu", "pos"]


def single_label_rows(pairs: list[tuple[int, int]]) -> list[dict]:
    return [{"id": str(i), "prediction": [LABELS[p]], "gold": [LABELS[g]]} for i, (p, g) in enumerate(pairs)]


def test_single_label_accuracy_and_macro_f1_by_the_metric_module():
    pairs = [(0, 0), (0, 1), (2, 2), (2, 0), (2, 2)]  # "neu" is gold once, never predicted
    expected = single_label_scores([p for p, _ in pairs], [g for _, g in pairs])
    single = record({"accuracy": 0.0, "macro_f1": 0.0}, "macro_f1", task={"multi_label": False})
    assert corpus_score(single, "accuracy", single_label_rows(pairs)) == pytest.approx(expected["accuracy"])
    assert corpus_score(single, "macro_f1", single_label_rows(pairs)) == pytest.approx(expected["macro_f1"])


def multi_label_rows(vectors: list[tuple[list[int], list[int]]], labels: list[str]) -> list[dict]:
    names = lambda v: [label for label, on in zip(labels, v) if on]  # noqa: E731
    return [{"id": str(i), "prediction": names(p), "gold": names(g)} for i, (p, g) in enumerate(vectors)]


def test_multi_label_macro_f1_counts_every_label_of_the_record():
    labels = ["a", "b", "c", "never"]  # "never" is neither gold nor predicted: F1 0, still in the mean
    vectors = [([1, 0, 1, 0], [1, 0, 0, 0]), ([0, 1, 0, 0], [0, 1, 1, 0]), ([0, 0, 0, 0], [1, 0, 0, 0])]
    expected = multi_label_scores([p for p, _ in vectors], [g for _, g in vectors], label_names=labels)
    per_label = {label: {} for label in labels}
    multi = record({"macro_f1": 0.0, "micro_f1": 0.0, "per_label": per_label}, "macro_f1", task={"multi_label": True})
    for metric in ("macro_f1", "micro_f1", "jaccard"):
        assert corpus_score(multi, metric, multi_label_rows(vectors, labels)) == pytest.approx(expected[metric])


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=12),
    draw=st.lists(st.integers(0, 11), min_size=1, max_size=12),
)
def test_a_resample_scored_from_weights_equals_the_metric_on_the_drawn_examples(pairs, draw):
    # The bootstrap's central claim: summing statistics with draw counts is scoring the drawn examples.
    # Single-label macro-F1 is the hard case: a label absent from the draw must leave the mean.
    drawn = [i % len(pairs) for i in draw]
    weights = np.bincount(drawn, minlength=len(pairs))
    single = record({}, "macro_f1", task={"multi_label": False})
    on_draw = single_label_scores([pairs[i][0] for i in drawn], [pairs[i][1] for i in drawn])
    rows = single_label_rows(pairs)
    assert corpus_score(single, "macro_f1", rows, weights) == pytest.approx(on_draw["macro_f1"])
    assert corpus_score(single, "accuracy", rows, weights) == pytest.approx(on_draw["accuracy"])
    spans = [SENTENCES[i % len(SENTENCES)] for i in drawn]
    span_weights = np.bincount([i % len(SENTENCES) for i in drawn], minlength=len(SENTENCES))
    conlleval = record({"span_f1": 0.0, "span_f1_strict": 0.0}, "span_f1")
    expected = span_scores([p for p, _ in spans], [g for _, g in spans])["span_f1"]
    assert corpus_score(conlleval, "span_f1", tag_rows(), span_weights) == pytest.approx(expected)


def test_acc_norm_is_not_recomputable_from_rows():
    assert corpus_metric(record({"acc_norm": 0.5}, "acc_norm"), "acc_norm") is None  # rows keep no choice lengths


# The paired bootstrap -----------------------------------------------------------------------------

CORRECT = mean_metric("accuracy", lambda row: row["correct"])


def seeds(*flags: list[int]) -> list:
    return [(CORRECT, CORRECT.statistics([{"correct": f} for f in seed])) for seed in flags]


def test_a_method_right_wherever_the_reference_is_and_more_is_significant():
    reference = [1, 0, 1, 0, 0, 1, 0, 0, 1, 0] * 10  # 40% right
    better = [1, 1, 1, 0, 1, 1, 1, 0, 1, 1] * 10  # right on each of those, and on 40 more
    delta, p = paired_bootstrap(seeds(better, better), seeds(reference, reference), resamples=2000)
    assert delta == pytest.approx(0.4)
    # No draw of 100 examples misses all 40 where they differ, so every delta_b > 0: p = 2 / (B + 1).
    assert p == pytest.approx(2 / 2001)
    # Two-sided: the other way round, the same p and the opposite delta.
    assert paired_bootstrap(seeds(reference, reference), seeds(better, better), resamples=2000) == (
        pytest.approx(-0.4), pytest.approx(p))


def test_identical_predictions_have_no_difference():
    flags = [1, 0, 0, 1, 1, 0, 1]
    assert paired_bootstrap(seeds(flags), seeds(flags), resamples=500) == (0.0, 1.0)


def test_a_small_difference_on_few_examples_is_not_significant():
    reference = [1, 0] * 10
    one_more = [1, 1] + [1, 0] * 9  # right on one more example of 20
    delta, p = paired_bootstrap(seeds(one_more), seeds(reference), resamples=2000)
    # delta_b <= 0 exactly when the draw of 20 misses that example: (19/20)^20 = 0.358; p = 2 * 0.358.
    assert delta == pytest.approx(0.05) and p == pytest.approx(2 * (19 / 20) ** 20, abs=0.05)


def test_seeds_are_averaged_per_side_before_comparing():
    # Two seeds of the method: one all right, one all wrong (mean 0.5), against a reference at 0.5.
    delta, p = paired_bootstrap(seeds([1] * 8, [0] * 8), seeds([1, 0] * 4), resamples=500)
    assert delta == 0.0 and p > 0.5


# From records and their predictions to the leaderboard -----------------------------------------


def write_run(root: Path, method: str, seed: int, answers: list[str], gold: list[str]) -> None:
    matches = [a == g for a, g in zip(answers, gold)]
    result = record({"exact_match": sum(matches) / len(matches)}, "exact_match", method=method, seed=seed)
    folder = run_dir(root, result.sweep, result.run_id)
    write_result(result, folder)
    rows = [{"split": split, "id": f"q{i}", "gold": [g], "prediction": a, "score": 1}
            for split in ("dev", "test") for i, (a, g) in enumerate(zip(answers, gold))]
    write_predictions(rows, folder)


def test_the_leaderboard_reports_all_three_tests_and_names_them(tmp_path):
    root = tmp_path / "results"
    gold = [f"answer {i}" for i in range(60)]
    for seed in (1, 2, 3):
        write_run(root, "lora", seed, [g if i % 3 else "wrong" for i, g in enumerate(gold)], gold)  # 2/3 right
        write_run(root, "full", seed, gold[: 55 + seed] + ["wrong"] * (5 - seed), gold)  # 56..58 of 60
    old = record({"exact_match": 0.5}, "exact_match", method="ia3", seed=1)  # no predictions.jsonl
    write_result(old, run_dir(root, old.sweep, old.run_id))
    collection = collect(root)
    files = PredictionFiles(find_prediction_files(root))
    (board,), _ = build_leaderboards(collection.completed, "lora", Statistics(resamples=1000), files)
    full, lora, ia3 = board.groups
    assert full.example_comparison.p_value < 0.01 and full.example_comparison.n_examples == 60
    assert full.example_comparison.delta == pytest.approx(57 / 60 - 40 / 60)
    assert full.stochastic_order.epsilon_min < 0.1  # three seeds each, every one of full's above lora's
    assert ia3.example_comparison.note == "no predictions" and math.isnan(ia3.example_comparison.p_value)
    assert ia3.stochastic_order.note == "fewer than 3 seeds" and math.isnan(ia3.stochastic_order.epsilon_min)
    headers, rows = leaderboard_table(board)
    cells = dict(zip(headers, rows[0]))
    # Seed differences 16, 17, 18 (/60): t = 17 sqrt(3) on 2 degrees of freedom, p = 1 - t / sqrt(2 + t^2).
    t = 17 * math.sqrt(3)
    assert cells["p (seeds, t-test)"] == fmt_p(1 - t / math.sqrt(2 + t * t))
    assert cells["p (examples, paired bootstrap)"].startswith("0.002 (Δ +0.2833, 60 ex.)")
    assert cells["ε_min (ASO, seeds)"] == "0.000"
    ia3_cells = dict(zip(headers, rows[2]))
    assert ia3_cells["p (examples, paired bootstrap)"] == "no predictions"
    assert ia3_cells["ε_min (ASO, seeds)"] == "n/a (fewer than 3 seeds)"
    csv_header = leaderboard_csv([board]).splitlines()[0]
    assert "p_seeds_ttest" in csv_header and "p_examples_bootstrap" in csv_header and "aso_epsilon_min" in csv_header


def test_predictions_of_excluded_or_hidden_folders_are_not_used(tmp_path):
    root = tmp_path / "results"
    write_run(root, "lora", 1, ["a"], ["a"])
    write_run(root / ".trash", "ia3", 1, ["a"], ["a"])
    assert list(find_prediction_files(root)) == [record({}, "exact_match").run_id]
    assert find_prediction_files(root, exclude=[root / "s"]) == {}


# Almost Stochastic Order ------------------------------------------------------------------------

QUICK = Statistics(aso_iterations=200)  # fewer bootstrap iterations of the violation ratio: a faster test


def test_aso_clearly_better_seeds_give_epsilon_near_zero_and_the_reverse_near_one():
    better, worse = [0.90, 0.91, 0.92, 0.93], [0.50, 0.51, 0.52, 0.53]
    assert almost_stochastic_order(better, worse, "ref", QUICK).epsilon_min < 0.05
    assert almost_stochastic_order(worse, better, "ref", QUICK).epsilon_min > 0.95


def test_aso_on_identical_scores_does_not_call_either_better():
    # deepsig: epsilon_min < 0.5 rejects "not better". Equal distributions have violation ratio 0.5
    # (deepsig defines 0/0 so), and epsilon_min is an upper bound of it: never below 0.5.
    scores = [0.70, 0.72, 0.75]
    assert almost_stochastic_order(scores, list(scores), "ref", QUICK).epsilon_min >= 0.5
    assert almost_stochastic_order([0.7] * 3, [0.7] * 3, "ref", QUICK).epsilon_min == pytest.approx(0.5)


def test_aso_is_reproducible_and_leaves_numpy_s_global_rng_alone():
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    first = almost_stochastic_order([0.6, 0.7, 0.65], [0.62, 0.66, 0.64], "ref", QUICK)
    assert np.random.random() == expected_next
    assert almost_stochastic_order([0.6, 0.7, 0.65], [0.62, 0.66, 0.64], "ref", QUICK) == first


def test_fewer_than_three_seeds_on_either_side_give_no_aso():
    for ours, theirs in (([0.9, 0.91], [0.5, 0.51, 0.52]), ([0.9, 0.91, 0.92], [0.5, 0.51])):
        result = almost_stochastic_order(ours, theirs, "ref", QUICK)
        assert math.isnan(result.epsilon_min) and result.note == "fewer than 3 seeds"
