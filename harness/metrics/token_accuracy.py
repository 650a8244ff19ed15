"""Token accuracy for tagging tasks such as POS: the fraction of tokens whose predicted tag equals
the gold tag, pooled over all tokens of all sentences (not averaged per sentence).

With no tokens at all the accuracy is 0 (defined, not NaN), and ``num_tokens`` says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import evaluate

from harness.metrics.aligned import check_aligned

_INPUTS = """
Args:
    predictions: list of sentences, each a list of tags (str), e.g. [["DT", "NN", "VBZ"]].
    references: list of gold sentences, the same number and each the same length as predictions.
Returns:
    token_accuracy: correct tokens / all tokens, in [0, 1].
    num_tokens: the number of tokens scored.
"""


def token_scores(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]
) -> dict[str, object]:
    """The TokenAccuracy result for these sentences, as plain Python numbers."""
    check_aligned(predictions, references)
    num_tokens = sum(len(gold) for gold in references)
    correct = sum(
        predicted_tag == gold_tag
        for predicted, gold in zip(predictions, references)
        for predicted_tag, gold_tag in zip(predicted, gold)
    )
    return {"token_accuracy": correct / num_tokens if num_tokens else 0.0, "num_tokens": num_tokens}


class TokenAccuracy(evaluate.Metric):
    """Tag accuracy over tokens, instantiated directly (``TokenAccuracy()``), never from the Hub.

    ``keep_in_memory`` defaults to True for the same reason as ``SpanF1``: no cache files, no locks.
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
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references):
        return token_scores(predictions, references)
