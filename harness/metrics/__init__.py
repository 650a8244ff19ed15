"""Metrics as ``evaluate.Metric`` subclasses that live in this package and are instantiated
directly, never loaded from the Hub by name (the Hub is unreachable in tests and on clusters).

A task names its metric by the registry key (``metric_for("span_f1")``); result records use the
same key.
"""

from __future__ import annotations

import evaluate

from harness.metrics.exact_match import ExactMatch, normalize_answer
from harness.metrics.multi_label import MultiLabel
from harness.metrics.multiple_choice import MultipleChoice
from harness.metrics.single_label import SingleLabel
from harness.metrics.span_f1 import SpanF1
from harness.metrics.spans import iob2_spans
from harness.metrics.token_accuracy import TokenAccuracy

METRICS: dict[str, type[evaluate.Metric]] = {
    "exact_match": ExactMatch,
    "multi_label": MultiLabel,
    "multiple_choice": MultipleChoice,
    "single_label": SingleLabel,
    "span_f1": SpanF1,
    "token_accuracy": TokenAccuracy,
}


def metric_for(name: str, **kwargs) -> evaluate.Metric:
    """A fresh instance of the metric registered as ``name``; kwargs go to its constructor."""
    try:
        metric_class = METRICS[name]
    except KeyError:
        raise ValueError(
            f"unknown metric {name!r}; allowed: {', '.join(sorted(METRICS))}"
        ) from None
    return metric_class(**kwargs)


__all__ = [
    "METRICS",
    "ExactMatch",
    "MultiLabel",
    "MultipleChoice",
    "SingleLabel",
    "SpanF1",
    "TokenAccuracy",
    "iob2_spans",
    "metric_for",
    "normalize_answer",
]
