"""Span-level precision, recall and F1 (the CoNLL NER score), as conlleval computes it, and the
strict IOB2 variant beside it.

``span_f1``, ``span_precision``, ``span_recall`` and ``per_type`` read spans as conlleval.perl and
seqeval's default mode do (a stray ``I-X`` starts a span; see ``harness.metrics.spans``): the
definition of the published numbers this benchmark is read beside. ``span_f1_strict``,
``span_precision_strict`` and ``span_recall_strict`` read them strictly (seqeval ``mode="strict",
scheme=IOB2``: a stray ``I-X`` starts nothing); records written before the conlleval definition
hold that score under the name ``span_f1``. A predicted span is correct only if its sentence,
type, start and end all equal a gold span's. Scores are micro-averaged over all types:
precision = correct / predicted, recall = correct / gold, F1 their harmonic mean.

Edge cases, defined rather than warned about (seqeval warns and returns 0 in the same places):
- no predicted spans: precision is 0 (not undefined), so F1 is 0;
- no gold spans: recall is 0, so F1 is 0 (even when nothing is predicted either);
- precision + recall == 0: F1 is 0.
The same rules apply per type; a type seen only in predictions appears in ``per_type`` with
support 0 and all scores 0.

``num_gold_spans``, ``num_predicted_spans`` and ``num_correct_spans`` (conlleval reading) are the
sufficient statistics of the micro scores: computed per sentence, they let an example-level
bootstrap resample sentences without reading tags again.

Why hand-written: seqeval is unmaintained since 2020 and pulls in scikit-learn, so it is a test
reference only (tests/metrics/ compares both definitions with it), not a runtime dependency.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import datasets
import evaluate

from harness.metrics.aligned import check_aligned
from harness.metrics.spans import Span, iob2_spans, strict_iob2_spans

_DESCRIPTION = __doc__

_INPUTS = """
Args:
    predictions: list of sentences, each a list of IOB2 tags (str), e.g. [["B-PER", "I-PER", "O"]].
    references: list of gold sentences, the same number and each the same length as predictions.
Returns:
    span_f1, span_precision, span_recall: conlleval definition, micro-averaged over all span types, in [0, 1].
    span_f1_strict, span_precision_strict, span_recall_strict: the same, spans read strictly (strict IOB2).
    per_type: {type: {"f1", "precision", "recall", "support"}} (conlleval), support = number of gold spans.
    num_gold_spans, num_predicted_spans, num_correct_spans: conlleval span counts over all sentences.
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


SentenceSpan = tuple[int, str, int, int]
"""(sentence, type, start, end_exclusive): a span, told apart from the same offsets in another sentence."""


def _all_spans(
    sentences: Sequence[Sequence[str]], read: Callable[[Sequence[str]], list[Span]]
) -> set[SentenceSpan]:
    return {(sentence, *span) for sentence, tags in enumerate(sentences) for span in read(tags)}


def _per_type(gold: set[SentenceSpan], predicted: set[SentenceSpan]) -> dict[str, dict[str, float]]:
    gold_by_type = Counter(span[1] for span in gold)
    predicted_by_type = Counter(span[1] for span in predicted)
    correct_by_type = Counter(span[1] for span in gold & predicted)
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
    return per_type


def _micro(gold: set[SentenceSpan], predicted: set[SentenceSpan], suffix: str = "") -> dict[str, float]:
    """Micro precision, recall and F1 under the result keys, each name followed by `suffix`."""
    correct = len(gold & predicted)
    precision = _ratio(correct, len(predicted))
    recall = _ratio(correct, len(gold))
    return {
        f"span_f1{suffix}": _f1(precision, recall),
        f"span_precision{suffix}": precision,
        f"span_recall{suffix}": recall,
    }


def span_scores(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]
) -> dict[str, object]:
    """The SpanF1 result for these sentences, as plain Python numbers (see the module docstring)."""
    check_aligned(predictions, references)
    gold, predicted = _all_spans(references, iob2_spans), _all_spans(predictions, iob2_spans)
    # Gold is read strictly too: a stray I-X in a gold file (IOB1 data labelled IOB2) is dropped there.
    strict_gold = _all_spans(references, strict_iob2_spans)
    strict_predicted = _all_spans(predictions, strict_iob2_spans)
    return {
        **_micro(gold, predicted),
        "per_type": _per_type(gold, predicted),
        "num_gold_spans": len(gold),
        "num_predicted_spans": len(predicted),
        "num_correct_spans": len(gold & predicted),
        **_micro(strict_gold, strict_predicted, suffix="_strict"),
    }


class SpanF1(evaluate.Metric):
    """Span F1 (conlleval, strict IOB2 beside it), instantiated directly (``SpanF1()``), never
    loaded from the Hub.

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
