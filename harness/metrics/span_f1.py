"""Span-level precision, recall and F1 over strict IOB2 spans (the CoNLL NER score).

A predicted span is correct only if its sentence, type, start and end all equal a gold span's
(see ``harness.metrics.spans`` for how spans are read from tags). Scores are micro-averaged over
all types: precision = correct / predicted, recall = correct / gold, F1 their harmonic mean.

Edge cases, defined rather than warned about (seqeval warns and returns 0 in the same places):
- no predicted spans: precision is 0 (not undefined), so F1 is 0;
- no gold spans: recall is 0, so F1 is 0 (even when nothing is predicted either);
- precision + recall == 0: F1 is 0.
The same rules apply per type; a type seen only in predictions appears in ``per_type`` with
support 0 and all scores 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import datasets
import evaluate

from harness.metrics.aligned import check_aligned
from harness.metrics.spans import iob2_spans

_DESCRIPTION = __doc__

_INPUTS = """
Args:
    predictions: list of sentences, each a list of IOB2 tags (str), e.g. [["B-PER", "I-PER", "O"]].
    references: list of gold sentences, the same number and each the same length as predictions.
Returns:
    span_f1, span_precision, span_recall: micro-averaged over all span types, in [0, 1].
    per_type: {type: {"f1", "precision", "recall", "support"}}, support = number of gold spans.
    num_gold_spans, num_predicted_spans: span counts over all sentences.
"""

_CITATION = """
@inproceedings{tjong-kim-sang-de-meulder-2003-introduction,
    title = "Introduction to the {C}o{NLL}-2003 Shared Task:
             Language-Independent Named Entity Recognition",
    author = "Tjong Kim Sang, Erik F. and De Meulder, Fien",
    booktitle = "Proceedings of CoNLL-2003",
    year = "2003",
    pages = "142--147",
}
"""


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def span_scores(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]
) -> dict[str, object]:
    """The SpanF1 result for these sentences, as plain Python numbers (see the module docstring)."""
    check_aligned(predictions, references)
    gold: set[tuple[int, str, int, int]] = set()
    predicted: set[tuple[int, str, int, int]] = set()
    for sentence, (predicted_tags, gold_tags) in enumerate(zip(predictions, references)):
        gold.update((sentence, *span) for span in iob2_spans(gold_tags))
        predicted.update((sentence, *span) for span in iob2_spans(predicted_tags))
    correct = gold & predicted

    gold_by_type = Counter(span[1] for span in gold)
    predicted_by_type = Counter(span[1] for span in predicted)
    correct_by_type = Counter(span[1] for span in correct)
    per_type = {}
    for entity_type in sorted(gold_by_type.keys() | predicted_by_type.keys()):
        precision = _ratio(correct_by_type[entity_type], predicted_by_type[entity_type])
        recall = _ratio(correct_by_type[entity_type], gold_by_type[entity_type])
        per_type[entity_type] = {
            "f1": _f1(precision, recall),
            "precision": precision,
            "recall": recall,
            "support": gold_by_type[entity_type],
        }

    precision = _ratio(len(correct), len(predicted))
    recall = _ratio(len(correct), len(gold))
    return {
        "span_f1": _f1(precision, recall),
        "span_precision": precision,
        "span_recall": recall,
        "per_type": per_type,
        "num_gold_spans": len(gold),
        "num_predicted_spans": len(predicted),
    }


class SpanF1(evaluate.Metric):
    """Strict IOB2 span F1, instantiated directly (``SpanF1()``), never loaded from the Hub.

    ``keep_in_memory`` defaults to True: predictions are buffered in memory instead of an Arrow
    file under the evaluate cache, so no file locks are taken and many instances (or many
    ``compute`` calls) in one process never collide.
    """

    def __init__(self, keep_in_memory: bool = True, **kwargs):
        super().__init__(keep_in_memory=keep_in_memory, **kwargs)

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_INPUTS,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
            reference_urls=["https://www.clips.uantwerpen.be/conll2003/ner/"],
        )

    def _compute(self, predictions, references):
        return span_scores(predictions, references)
