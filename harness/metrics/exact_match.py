"""Exact match of generated answers against a list of acceptable answers (a target and its
aliases), after SQuAD's answer normalisation (Rajpurkar et al. 2016, the official v1.1 evaluation
script's ``normalize_answer``).

``normalize_answer`` lowercases, deletes ASCII punctuation (Python's ``string.punctuation``;
other characters such as curly quotes or dashes are kept, as in the official script), replaces the
whole words "a", "an" and "the" by a space, and collapses runs of whitespace into single spaces
with none at the ends. An example scores 1 if its normalised prediction equals the normalised
form of ANY of its acceptable answers, else 0; ``exact_match`` is the mean over examples.

``num_empty_predictions`` counts predictions that are empty AFTER normalisation ("", "  ", ".",
"The"): a generation that says nothing, for whatever reason. Such a prediction matches only an
acceptable answer that is itself empty after normalisation (the official script does the same).
Every example needs at least one acceptable answer; with no examples exact_match is 0.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

import datasets
import evaluate

from harness.metrics.label_scores import ratio

_INPUTS = """
Args:
    predictions: list of generated answers (str), one per example.
    references: list of the acceptable answers of each example (list of str, at least one),
        e.g. [["Paris", "Paris, France"]].
Returns:
    exact_match: examples whose normalised prediction equals a normalised answer / all examples.
    num_empty_predictions: predictions that normalise to the empty string.
    num_examples: the number of examples scored.
"""

_CITATION = """
@inproceedings{rajpurkar-etal-2016-squad,
    title = "{SQ}u{AD}: 100,000+ Questions for Machine Comprehension of Text",
    author = "Rajpurkar, Pranav and Zhang, Jian and Lopyrev, Konstantin and Liang, Percy",
    booktitle = "Proceedings of the 2016 Conference on Empirical Methods in Natural Language Processing",
    year = "2016",
    pages = "2383--2392",
}
"""

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's answer normalisation: lowercase, drop punctuation, drop articles, fix spaces."""
    text = text.lower()
    text = "".join(character for character in text if character not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_scores(
    predictions: Sequence[str], references: Sequence[Sequence[str]]
) -> dict[str, object]:
    """The ExactMatch result for these examples, as plain Python numbers (see the module docstring)."""
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} answer lists")
    matches = 0
    empty = 0
    for index, (prediction, answers) in enumerate(zip(predictions, references)):
        if isinstance(answers, str) or not answers:
            raise ValueError(
                f"example {index}: expected a non-empty list of acceptable answers, got {answers!r}"
            )
        normalised = normalize_answer(prediction)
        empty += not normalised
        matches += any(normalised == normalize_answer(answer) for answer in answers)
    return {
        "exact_match": ratio(matches, len(references)),
        "num_empty_predictions": empty,
        "num_examples": len(references),
    }


class ExactMatch(evaluate.Metric):
    """SQuAD-normalised exact match against answer aliases, instantiated directly (``ExactMatch()``).

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
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
            reference_urls=["https://rajpurkar.github.io/SQuAD-explorer/"],
        )

    def _compute(self, predictions, references):
        return exact_match_scores(predictions, references)
