"""ExactMatch and SQuAD's normalize_answer on hand-made answers with punctuation, articles and aliases."""

from __future__ import annotations

import pytest

from harness.metrics import ExactMatch, normalize_answer
from harness.metrics.exact_match import exact_match_scores


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The Eiffel Tower.", "eiffel tower"),  # lowercase, punctuation and article removed
        ("  An apple a  day\n", "apple day"),  # all three articles, whitespace collapsed
        ("Paris, France", "paris france"),
        ("Eiffel-Tower", "eiffeltower"),  # punctuation is deleted, not replaced by a space
        ("A.B.C.", "abc"),  # punctuation goes first, so the "a" of "abc" is no longer a word
        ("theory and anthem", "theory and anthem"),  # articles only as whole words
        ("“Quoted” — text", "“quoted” — text"),  # non-ASCII punctuation is kept, as in SQuAD's script
        ("The", ""),
        ("", ""),
    ],
)
def test_normalize_answer_as_squad(text, normalised):
    assert normalize_answer(text) == normalised


def test_known_example():
    predictions = ["The Eiffel Tower.", "paris", "Barack Obama", "", "the"]
    references = [["Eiffel Tower"], ["Paris, France", "Paris"], ["Obama"], ["x"], ["y"]]
    result = ExactMatch().compute(predictions=predictions, references=references)
    # e0: "eiffel tower" == "eiffel tower" -> 1; e1: matches the alias "Paris" -> 1; e2: "barack
    # obama" != "obama" (no partial credit) -> 0; e3, e4: empty after normalisation -> 0.
    assert result["exact_match"] == pytest.approx(2 / 5)
    assert result["num_empty_predictions"] == 2  # "" and "the"
    assert result["num_examples"] == 5


def test_an_empty_prediction_matches_only_an_answer_that_normalises_to_empty():
    # "" == normalize_answer("The") == "": 1, as SQuAD's script; then counted as empty all the same.
    assert exact_match_scores([""], [["The"]]) == {
        "exact_match": 1.0,
        "num_empty_predictions": 1,
        "num_examples": 1,
    }


def test_no_examples():
    assert ExactMatch().compute(predictions=[], references=[]) == {
        "exact_match": 0.0,
        "num_empty_predictions": 0,
        "num_examples": 0,
    }


def test_batches_add_up_to_the_whole():
    metric = ExactMatch()
    metric.add_batch(predictions=["Paris!"], references=[["paris"]])
    metric.add_batch(predictions=["Lyon"], references=[["Paris", "City of Light"]])
    assert metric.compute()["exact_match"] == 0.5


def test_every_example_needs_a_list_of_answers():
    with pytest.raises(ValueError, match=r"example 1: expected a non-empty list of acceptable answers, got \[\]"):
        ExactMatch().compute(predictions=["a", "b"], references=[["a"], []])
    with pytest.raises(ValueError, match=r"example 0: expected a non-empty list .* got 'Paris'"):
        exact_match_scores(["Paris"], ["Paris"])
