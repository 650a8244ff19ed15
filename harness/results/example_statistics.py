"""Corpus metrics as functions of per-example sufficient statistics, so test examples can be resampled.

Most metrics here are corpus metrics, not means over examples: span F1 pools span counts over all
sentences, macro-F1 pools per-label counts over all examples. An example-level bootstrap (Koehn
2004; Dror et al. 2018) therefore cannot average per-example scores; like Koehn's BLEU, it sums
each example's sufficient statistics over a resample and computes the metric from the sums. Each
definition here is two functions:

- ``statistics(rows) -> (N, K)``: one row of counts (or values) per example, read from the test rows
  of ``predictions.jsonl`` as the formulations write them (``gold``, ``prediction``, ``score``);
- ``score(sums) -> (...)``: the metric from those columns summed over examples, vectorised over any
  leading axes (resamples), with the zero-division rules of ``harness.metrics.label_scores``.

Summed over all test examples, each equals the metric in ``harness.metrics`` that the record holds
(tests/results/test_example_significance.py checks this on the committed records). Where a metric
module scores a single example (span counts, exact match, multiple choice) it is called per example
rather than re-implemented. Hand-written because no library (scipy, deepsig) knows these metrics.

Not recomputable from the rows: ``acc_norm`` (the rows keep no choice lengths); such a metric gets
no definition and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.metrics.exact_match import exact_match_scores
from harness.metrics.multiple_choice import multiple_choice_scores
from harness.metrics.span_f1 import span_scores
from harness.metrics.spans import strict_iob2_spans
from harness.results.collect import STRICT_RECORDED, span_definition
from harness.results.record import RunResult

Row = dict[str, Any]


@dataclass(frozen=True)
class CorpusMetric:
    """One metric as per-example statistics plus the score of their sums (see the module docstring)."""

    name: str
    statistics: Callable[[Sequence[Row]], np.ndarray]  # rows -> (N, K)
    score: Callable[[np.ndarray], np.ndarray]  # (..., K) sums -> (...)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, 0.0 where the denominator is 0 (as `label_scores.ratio`)."""
    numerator, denominator = np.broadcast_arrays(np.asarray(numerator, float), np.asarray(denominator, float))
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator != 0)


# Means over examples ------------------------------------------------------------------------------


def mean_metric(name: str, value: Callable[[Row], float]) -> CorpusMetric:
    """A metric that is a mean over examples: statistics (value, 1), score sum(value) / count."""

    def statistics(rows: Sequence[Row]) -> np.ndarray:
        return np.array([[value(row), 1.0] for row in rows], dtype=float).reshape(len(rows), 2)

    return CorpusMetric(name, statistics, lambda sums: ratio(sums[..., 0], sums[..., 1]))


def exact_match(row: Row) -> float:
    """SQuAD-normalised match of the generated answer with any alias (`harness.metrics.exact_match`)."""
    return float(exact_match_scores([row["prediction"]], [row["gold"]])["exact_match"])


def single_label_correct(row: Row) -> float:
    """Single-label classification: rows hold one gold and one predicted label name, each in a list."""
    return float(list(row["prediction"]) == list(row["gold"]))


def choice_scores(name: str) -> Callable[[Row], float]:
    """acc, mc1 or mc2 of one question from its per-choice log-likelihoods (`multiple_choice_scores`)."""

    def value(row: Row) -> float:
        scores, gold = row["score"], row["gold"]
        flags = [int(i in gold["correct"]) for i in range(len(scores))]
        lengths = [[1] * len(scores)]  # acc_norm is not read, so any positive lengths do
        return float(multiple_choice_scores([scores], [flags], choice_lengths=lengths, best=[gold["best"]])[name])

    return value


def jaccard(row: Row) -> float:
    """|P ∩ G| / |P ∪ G| of one example's label sets, 1.0 when both are empty (`multi_label`)."""
    predicted, gold = set(row["prediction"]), set(row["gold"])
    return len(predicted & gold) / len(predicted | gold) if predicted | gold else 1.0


def token_accuracy() -> CorpusMetric:
    """Tags pooled over all tokens of all sentences: statistics (correct tokens, tokens)."""

    def statistics(rows: Sequence[Row]) -> np.ndarray:
        counts = [[sum(p == g for p, g in zip(row["prediction"], row["gold"])), len(row["gold"])] for row in rows]
        return np.array(counts, dtype=float).reshape(len(rows), 2)

    return CorpusMetric("token_accuracy", statistics, lambda sums: ratio(sums[..., 0], sums[..., 1]))


# Span F1 ----------------------------------------------------------------------------------------


def span_counts_conlleval(row: Row) -> tuple[int, int, int]:
    """(correct, predicted, gold) spans of one sentence, spans read as conlleval does (`span_scores`)."""
    scores = span_scores([row["prediction"]], [row["gold"]])
    return scores["num_correct_spans"], scores["num_predicted_spans"], scores["num_gold_spans"]


def span_counts_strict(row: Row) -> tuple[int, int, int]:
    """(correct, predicted, gold) spans of one sentence read strictly (`strict_iob2_spans`)."""
    predicted, gold = set(strict_iob2_spans(row["prediction"])), set(strict_iob2_spans(row["gold"]))
    return len(predicted & gold), len(predicted), len(gold)


def span_f1_score(sums: np.ndarray) -> np.ndarray:
    """Micro span F1 from summed (correct, predicted, gold): the harmonic mean of P and R, as `span_f1`."""
    precision, recall = ratio(sums[..., 0], sums[..., 1]), ratio(sums[..., 0], sums[..., 2])
    return ratio(2 * precision * recall, precision + recall)


def span_f1(name: str, counts: Callable[[Row], tuple[int, int, int]]) -> CorpusMetric:
    def statistics(rows: Sequence[Row]) -> np.ndarray:
        return np.array([counts(row) for row in rows], dtype=float).reshape(len(rows), 3)

    return CorpusMetric(name, statistics, span_f1_score)


# Label F1 (classification) ----------------------------------------------------------------------


def label_counts(rows: Sequence[Row], labels: Sequence[str]) -> np.ndarray:
    """(N, 3L): per example, per label, [correct (L) | predicted (L) | gold (L)] as 0/1 entries."""
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(rows), 3, len(labels)))  # (N, 3, L)
    for n, row in enumerate(rows):
        predicted, gold = set(row["prediction"]), set(row["gold"])
        for side, names in enumerate((predicted & gold, predicted, gold)):
            counts[n, side, [index[name] for name in names]] = 1.0
    return counts.reshape(len(rows), 3 * len(labels))


def per_label_f1(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F1, predicted + gold) per label from summed label counts (..., 3L); F1 = 2c / (p + g)."""
    counts = sums.reshape(*sums.shape[:-1], 3, sums.shape[-1] // 3)  # (..., 3, L)
    seen = counts[..., 1, :] + counts[..., 2, :]
    return ratio(2 * counts[..., 0, :], seen), seen


def multi_label_macro_f1(sums: np.ndarray) -> np.ndarray:
    """Mean F1 over ALL labels of the label set, an unseen label counting 0 (`multi_label`)."""
    f1, _ = per_label_f1(sums)
    return f1.mean(axis=-1) if f1.shape[-1] else np.zeros(f1.shape[:-1])


def multi_label_micro_f1(sums: np.ndarray) -> np.ndarray:
    """2 * sum(correct) / (sum(predicted) + sum(gold)) over all labels (`multi_label`)."""
    counts = sums.reshape(*sums.shape[:-1], 3, sums.shape[-1] // 3).sum(axis=-1)  # (..., 3)
    return ratio(2 * counts[..., 0], counts[..., 1] + counts[..., 2])


def single_label_macro_f1(sums: np.ndarray) -> np.ndarray:
    """Mean F1 over the labels gold or predicted in these examples only (`single_label`, sklearn's
    default ``labels=None``): on a resample, a label absent from it leaves the mean."""
    f1, seen = per_label_f1(sums)
    present = seen > 0
    return ratio((f1 * present).sum(axis=-1), present.sum(axis=-1))


def label_metric(name: str, labels: Sequence[str], score: Callable[[np.ndarray], np.ndarray]) -> CorpusMetric:
    """A label-F1 metric; labels seen in the rows but missing from `labels` are appended."""

    def statistics(rows: Sequence[Row]) -> np.ndarray:
        seen = {label for row in rows for label in (*row["prediction"], *row["gold"])}
        return label_counts(rows, [*labels, *sorted(seen - set(labels))])

    return CorpusMetric(name, statistics, score)


# Which definition a record used -----------------------------------------------------------------


def is_multi_label(result: RunResult) -> bool:
    """The task config says so; records whose task config is not a mapping say it by their metrics."""
    task = result.config.get("task")
    if isinstance(task, dict) and "multi_label" in task:
        return bool(task["multi_label"])
    return "jaccard" in (result.metrics.get("test") or {})


def record_labels(result: RunResult) -> list[str]:
    """Every label position of the task, as the record's per-label test scores name them."""
    return sorted((result.metrics.get("test") or {}).get("per_label") or {})


def corpus_metric(result: RunResult, metric: str) -> CorpusMetric | None:
    """How `result` computed `metric` on its test set, or None where its rows cannot reproduce it.

    ``span_f1`` follows the definition the record was scored under (`collect.span_definition`):
    conlleval's, or the strict reading in records written before it."""
    if metric == "span_f1":
        strict = span_definition(result) == STRICT_RECORDED
        return span_f1(metric, span_counts_strict if strict else span_counts_conlleval)
    if metric == "span_f1_strict":
        return span_f1(metric, span_counts_strict)
    if metric == "token_accuracy":
        return token_accuracy()
    if metric == "exact_match":
        return mean_metric(metric, exact_match)
    if metric in ("acc", "mc1", "mc2"):
        return mean_metric(metric, choice_scores(metric))
    if is_multi_label(result):
        scores = {"macro_f1": multi_label_macro_f1, "micro_f1": multi_label_micro_f1}
        if metric in scores:
            return label_metric(metric, record_labels(result), scores[metric])
        return mean_metric(metric, jaccard) if metric == "jaccard" else None
    if metric == "accuracy":
        return mean_metric(metric, single_label_correct)
    if metric == "macro_f1":
        return label_metric(metric, [], single_label_macro_f1)
    return None
