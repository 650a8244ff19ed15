"""Precision, recall and F1 of one label from its counts, with the zero-division rules every
classification metric here shares (they equal scikit-learn's with ``zero_division=0``).

- precision = correct / predicted, 0 when nothing was predicted;
- recall = correct / gold, 0 when there is no gold;
- F1 = 2 * correct / (predicted + gold), the harmonic mean of the two wherever both are defined,
  and 0 when there is neither a gold nor a predicted positive (scikit-learn's ``f1_score``
  documents the same formula, 2TP / (2TP + FP + FN), and applies ``zero_division`` only there).
"""

from __future__ import annotations


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, and 0.0 when the denominator is 0."""
    return numerator / denominator if denominator else 0.0


def label_scores(correct: int, predicted: int, gold: int) -> dict[str, float | int]:
    """{"f1", "precision", "recall", "support"} of one label; support is the gold count."""
    return {
        "f1": ratio(2 * correct, predicted + gold),
        "precision": ratio(correct, predicted),
        "recall": ratio(correct, gold),
        "support": gold,
    }
