"""TokenAccuracy pools tokens over all sentences."""

from __future__ import annotations

import pytest

from harness.metrics import TokenAccuracy


def test_known_example():
    gold = [["DT", "NN", "VBZ", "JJ"], ["PRP", "VBD"]]
    predicted = [["DT", "NN", "VBZ", "RB"], ["PRP", "VBN"]]
    result = TokenAccuracy().compute(predictions=predicted, references=gold)
    # 6 tokens, wrong: JJ->RB and VBD->VBN, so 4/6 = 2/3 (per-sentence averaging would give 5/8).
    assert result["token_accuracy"] == pytest.approx(2 / 3)
    assert result["num_tokens"] == 6


def test_perfect_and_empty():
    gold = [["DT", "NN"], ["VB"]]
    assert TokenAccuracy().compute(predictions=gold, references=gold)["token_accuracy"] == 1.0  # 3/3
    # no tokens: defined as 0, not NaN.
    assert TokenAccuracy().compute(predictions=[[]], references=[[]]) == {"token_accuracy": 0.0, "num_tokens": 0}


def test_length_mismatch_names_the_sentence():
    with pytest.raises(ValueError, match=r"sentence 2: 1 predicted tags but 2 reference tags"):
        TokenAccuracy().compute(predictions=[["A"], ["B"], ["C"]], references=[["A"], ["B"], ["C", "D"]])
