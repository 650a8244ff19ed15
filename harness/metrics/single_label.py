"""Single-label classification scores over integer class ids: accuracy and macro F1.

- ``accuracy``: examples whose predicted id equals the gold id, over all examples.
- ``per_label``: for each class id that occurs in the gold OR the predicted ids, precision =
  correct / predicted, recall = correct / gold, F1 = 2 correct / (predicted + gold), each 0 where
  its denominator is 0 (``harness.metrics.label_scores``); support = gold count.
- ``macro_f1``: the unweighted mean of those per-label F1, over exactly those labels: a class of
  the label set that is neither gold nor predicted anywhere is left out, as in scikit-learn's
  ``f1_score(average="macro", zero_division=0)`` with its default ``labels=None``. (A label only
  predicted, or only gold, is in the mean with F1 0.)

With no examples, accuracy and macro F1 are 0 (defined, not NaN) and ``per_label`` is empty.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import datasets
import evaluate

from harness.metrics.label_scores import label_scores, ratio

_INPUTS = """
Args:
    predictions: list of predicted class ids (int), one per example.
    references: list of gold class ids, the same number.
    label_names: optional list of class names indexed by id: keys ``per_label`` by name.
Returns:
    accuracy: correct examples / all examples, in [0, 1].
    macro_f1: mean F1 over the labels seen in gold or predictions, in [0, 1].
    per_label: {id (or name): {"f1", "precision", "recall", "support"}}, sorted by id.
    num_examples: the number of examples scored.
"""


def single_label_scores(
    predictions: Sequence[int],
    references: Sequence[int],
    label_names: Sequence[str] | None = None,
) -> dict[str, object]:
    """The SingleLabel result for these examples, as plain Python numbers (see the module docstring)."""
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    if label_names is not None:
        for index, (predicted, gold) in enumerate(zip(predictions, references)):
            for side, label in (("predicted", predicted), ("reference", gold)):
                if not 0 <= label < len(label_names):
                    raise ValueError(
                        f"example {index}: {side} id {label} has no name "
                        f"(label_names has {len(label_names)})"
                    )

    correct = Counter(gold for predicted, gold in zip(predictions, references) if predicted == gold)
    predicted_count = Counter(predictions)
    gold_count = Counter(references)
    per_label = {
        (label_names[label] if label_names is not None else label): label_scores(
            correct[label], predicted_count[label], gold_count[label]
        )
        for label in sorted(predicted_count.keys() | gold_count.keys())
    }
    return {
        "accuracy": ratio(sum(correct.values()), len(references)),
        "macro_f1": ratio(sum(scores["f1"] for scores in per_label.values()), len(per_label)),
        "per_label": per_label,
        "num_examples": len(references),
    }


class SingleLabel(evaluate.Metric):
    """Accuracy and macro F1 over class ids, instantiated directly (``SingleLabel()``).

    ``keep_in_memory`` defaults to True, as for ``SpanF1``: no cache files, no locks.
    """

    def __init__(self, keep_in_memory: bool = True, **kwargs):
        super().__init__(keep_in_memory=keep_in_memory, **kwargs)

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=__doc__,
            citation="",
            inputs_description=_INPUTS,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("int64"),
                    "references": datasets.Value("int64"),
                }
            ),
            reference_urls=[
                "https://scikit-learn.org/stable/modules/model_evaluation.html#precision-recall-and-f-measures"
            ],
        )

    def _compute(self, predictions, references, label_names=None):
        return single_label_scores(predictions, references, label_names=label_names)
