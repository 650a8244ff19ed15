"""Multi-label classification scores over multi-hot vectors: one 0/1 entry per label and example.

For label j over all examples: correct_j = examples where it is both predicted and gold,
predicted_j and gold_j the examples where it is predicted and gold. Per label (see
``harness.metrics.label_scores``): precision = correct_j / predicted_j, recall = correct_j / gold_j,
F1 = 2 correct_j / (predicted_j + gold_j), each 0 where its denominator is 0.

- ``macro_f1``: the unweighted mean of the per-label F1 over ALL labels (every position of the
  vector), as scikit-learn's ``f1_score(average="macro", zero_division=0)``. A label with neither
  a gold nor a predicted positive has F1 0 and still counts in the mean, so a label set with
  labels that never occur caps macro F1 below 1 even for perfect predictions.
- ``micro_f1``: F1 of the counts pooled over all labels, 2 * sum(correct) / (sum(predicted) +
  sum(gold)); 0 when there are no positives on either side (``f1_score(average="micro",
  zero_division=0)``).
- ``jaccard``: mean over examples of |P ∩ G| / |P ∪ G| (predicted and gold label sets). An example
  with no predicted and no gold label scores 1.0 (the empty prediction is exactly right). This is
  scikit-learn's ``jaccard_score(average="samples", zero_division=1)``; its default
  (``zero_division="warn"``) scores such an example 0 instead.
- ``predicted_cardinality`` / ``gold_cardinality``: mean number of predicted / gold labels per
  example ("label cardinality", Tsoumakas & Katakis 2007).
- ``num_examples_without_prediction``: examples with no predicted label at all (a model that
  learns to predict nothing shows here before it shows in the F1).

With no examples every score and mean is 0 and ``per_label`` lists the ``label_names`` (if given)
with zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import evaluate
import numpy as np

from harness.metrics.label_scores import label_scores, ratio

_INPUTS = """
Args:
    predictions: list of multi-hot vectors, one per example, of 0/1 ints, e.g. [[1, 0, 1], [0, 0, 0]].
    references: list of gold multi-hot vectors, the same number, all of the same length.
    label_names: optional list of names, one per vector position: keys ``per_label`` by name.
Returns:
    macro_f1, micro_f1, jaccard: in [0, 1] (see the description for each definition).
    predicted_cardinality, gold_cardinality: mean labels per example.
    num_examples_without_prediction: examples whose predicted vector is all 0.
    per_label: {index (or name): {"f1", "precision", "recall", "support"}}, support = gold count.
    num_examples: the number of examples scored.
"""

_CITATION = """
@article{tsoumakas-katakis-2007-multi,
    title = "Multi-Label Classification: An Overview",
    author = "Tsoumakas, Grigorios and Katakis, Ioannis",
    journal = "International Journal of Data Warehousing and Mining",
    volume = "3",
    number = "3",
    pages = "1--13",
    year = "2007",
}
"""


def _multi_hot(vectors: Sequence[Sequence[int]], side: str, num_labels: int) -> np.ndarray:
    """(N, L) int array of the vectors; fails naming the first example of wrong length or value."""
    for index, vector in enumerate(vectors):
        if len(vector) != num_labels:
            raise ValueError(
                f"example {index}: {side} vector has {len(vector)} entries, expected {num_labels}"
            )
    array = np.asarray(vectors).reshape(len(vectors), num_labels)
    not_binary = np.argwhere((array != 0) & (array != 1))
    if len(not_binary):
        index, position = (int(i) for i in not_binary[0])
        raise ValueError(
            f"example {index}: {side} entry {position} is {array[index, position].item()!r}, expected 0 or 1"
        )
    return array.astype(np.int64)


def multi_label_scores(
    predictions: Sequence[Sequence[int]],
    references: Sequence[Sequence[int]],
    label_names: Sequence[str] | None = None,
) -> dict[str, object]:
    """The MultiLabel result for these examples, as plain Python numbers (see the module docstring)."""
    if len(predictions) != len(references):
        raise ValueError(
            f"got {len(predictions)} predicted vectors but {len(references)} reference vectors"
        )
    if label_names is not None:
        num_labels = len(label_names)
        if len(set(label_names)) != num_labels:
            raise ValueError(f"label_names has duplicates: {list(label_names)}")
    elif references:
        num_labels = len(references[0])
    else:
        num_labels = 0
    predicted = _multi_hot(predictions, "predicted", num_labels)  # (N, L)
    gold = _multi_hot(references, "reference", num_labels)  # (N, L)
    keys = list(label_names) if label_names is not None else list(range(num_labels))

    correct_per_label = (predicted & gold).sum(axis=0)  # (L,)
    predicted_per_label = predicted.sum(axis=0)
    gold_per_label = gold.sum(axis=0)
    per_label = {
        key: label_scores(int(correct), int(num_predicted), int(num_gold))
        for key, correct, num_predicted, num_gold in zip(
            keys, correct_per_label, predicted_per_label, gold_per_label
        )
    }

    num_examples = len(references)
    predicted_per_example = predicted.sum(axis=1)  # (N,)
    gold_per_example = gold.sum(axis=1)
    intersection = (predicted & gold).sum(axis=1)
    union = (predicted | gold).sum(axis=1)
    # an example with nothing predicted and nothing gold is exactly right: 1.0, not 0/0.
    jaccard_per_example = [ratio(int(i), int(u)) if u else 1.0 for i, u in zip(intersection, union)]
    return {
        "macro_f1": ratio(sum(scores["f1"] for scores in per_label.values()), num_labels),
        "micro_f1": ratio(2 * int(correct_per_label.sum()), int(predicted.sum() + gold.sum())),
        "jaccard": ratio(sum(jaccard_per_example), num_examples),
        "predicted_cardinality": ratio(int(predicted_per_example.sum()), num_examples),
        "gold_cardinality": ratio(int(gold_per_example.sum()), num_examples),
        "num_examples_without_prediction": int((predicted_per_example == 0).sum()),
        "per_label": per_label,
        "num_examples": num_examples,
    }


class MultiLabel(evaluate.Metric):
    """Multi-label F1, Jaccard and cardinalities, instantiated directly (``MultiLabel()``).

    ``keep_in_memory`` defaults to True, as for ``SpanF1``: no cache files, no locks.
    """

    def __init__(self, keep_in_memory: bool = True, **kwargs):
        super().__init__(keep_in_memory=keep_in_memory, **kwargs)

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description=_INPUTS,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int32")),
                    "references": datasets.Sequence(datasets.Value("int32")),
                }
            ),
            reference_urls=[
                "https://scikit-learn.org/stable/modules/model_evaluation.html#precision-recall-and-f-measures",
                "https://scikit-learn.org/stable/modules/model_evaluation.html#jaccard-similarity-coefficient-score",
            ],
        )

    def _compute(self, predictions, references, label_names=None):
        return multi_label_scores(predictions, references, label_names=label_names)
