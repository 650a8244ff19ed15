"""SpanF1 gives the known score on known examples (each expected number derived by hand)."""

from __future__ import annotations

import pytest

from harness.metrics import SpanF1

# seqeval's README example.
SEQEVAL_TRUE = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
SEQEVAL_PRED = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]

# Three types, two sentences, every count different.
MIXED_GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG"],  # PER 0..2, LOC 3..4, ORG 5..6
    ["B-LOC", "O", "B-PER"],  # LOC 0..1, PER 2..3
]
MIXED_PRED = [
    ["B-PER", "I-PER", "O", "B-LOC", "O", "B-LOC"],  # PER 0..2 ok, LOC 3..4 ok, LOC 5..6 wrong
    ["B-LOC", "O", "O"],  # LOC 0..1 ok; PER 2..3 missed
]


@pytest.fixture(scope="module")
def span_f1():
    return SpanF1()


def test_seqeval_readme_example(span_f1):
    result = span_f1.compute(predictions=SEQEVAL_PRED, references=SEQEVAL_TRUE)
    # gold: MISC 3..6, PER 0..2; predicted: MISC 2..6 (wrong start), PER 0..2 (correct).
    # P = 1/2, R = 1/2, F1 = 2 * 0.5 * 0.5 / 1.0 = 0.5.
    assert result["span_f1"] == pytest.approx(0.5)
    assert result["span_precision"] == pytest.approx(0.5)
    assert result["span_recall"] == pytest.approx(0.5)
    # MISC: 0 of 1 predicted correct, 0 of 1 gold found -> 0; PER: 1/1 and 1/1 -> 1.
    assert result["per_type"]["MISC"] == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 1}
    assert result["per_type"]["PER"] == {"f1": 1.0, "precision": 1.0, "recall": 1.0, "support": 1}
    assert result["num_gold_spans"] == 2 and result["num_predicted_spans"] == 2


def test_micro_and_per_type_scores(span_f1):
    result = span_f1.compute(predictions=MIXED_PRED, references=MIXED_GOLD)
    # gold 5 spans (PER 2, LOC 2, ORG 1), predicted 4 (PER 1, LOC 3), correct 3 (PER 1, LOC 2).
    # P = 3/4 = 0.75, R = 3/5 = 0.6, F1 = 2 * 0.75 * 0.6 / 1.35 = 0.9 / 1.35 = 2/3.
    assert result["span_precision"] == pytest.approx(0.75)
    assert result["span_recall"] == pytest.approx(0.6)
    assert result["span_f1"] == pytest.approx(2 / 3)
    assert result["num_gold_spans"] == 5 and result["num_predicted_spans"] == 4
    per_type = result["per_type"]
    assert sorted(per_type) == ["LOC", "ORG", "PER"]
    # PER: P = 1/1, R = 1/2, F1 = 2 * 1 * 0.5 / 1.5 = 2/3.
    assert per_type["PER"] == pytest.approx({"f1": 2 / 3, "precision": 1.0, "recall": 0.5, "support": 2})
    # LOC: P = 2/3, R = 2/2, F1 = 2 * (2/3) * 1 / (5/3) = 4/5.
    assert per_type["LOC"] == pytest.approx({"f1": 0.8, "precision": 2 / 3, "recall": 1.0, "support": 2})
    # ORG: never predicted -> P = 0 by definition, R = 0/1, F1 = 0.
    assert per_type["ORG"] == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 1}


def test_perfect_predictions_score_one(span_f1):
    result = span_f1.compute(predictions=MIXED_GOLD, references=MIXED_GOLD)
    # every one of the 5 gold spans predicted exactly, nothing else: P = R = F1 = 5/5.
    assert result["span_f1"] == result["span_precision"] == result["span_recall"] == 1.0
    assert all(scores["f1"] == 1.0 for scores in result["per_type"].values())


def test_leading_i_prediction_is_not_a_span(span_f1):
    gold = [["B-PER", "I-PER", "O"]]
    # strict: I-PER I-PER starts no span, so nothing is predicted (lenient conlleval would give 1.0).
    result = span_f1.compute(predictions=[["I-PER", "I-PER", "O"]], references=gold)
    # P = 0 (no predictions), R = 0/1, F1 = 0.
    assert result["num_predicted_spans"] == 0
    assert result["span_f1"] == 0.0 and result["span_recall"] == 0.0


def test_type_change_inside_a_span_gives_a_wrong_boundary(span_f1):
    gold = [["B-PER", "I-PER", "O"]]  # PER 0..2
    result = span_f1.compute(predictions=[["B-PER", "I-LOC", "O"]], references=gold)
    # predicted PER 0..1 only (I-LOC ends it and is dropped): wrong end, so P = 0/1, R = 0/1, F1 = 0,
    # and LOC, never a span, is not a type of the result.
    assert result["num_predicted_spans"] == 1
    assert result["span_f1"] == 0.0 and result["span_precision"] == 0.0
    assert result["per_type"] == {"PER": {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 1}}


def test_spans_match_only_within_their_own_sentence(span_f1):
    # PER 0..1 in sentence 0 (gold) and in sentence 1 (predicted): same offsets, different spans.
    result = span_f1.compute(predictions=[["O", "O"], ["B-PER", "O"]], references=[["B-PER", "O"], ["O", "O"]])
    # 0 correct of 1 predicted and 1 gold: P = R = F1 = 0.
    assert result["span_f1"] == 0.0


def test_no_predicted_spans_gives_precision_zero(span_f1):
    result = span_f1.compute(predictions=[["O", "O", "O"]], references=[["B-PER", "I-PER", "O"]])
    # 0 predicted -> P = 0 (defined, not NaN); R = 0/1 = 0; P + R = 0 -> F1 = 0.
    assert result["span_precision"] == 0.0 and result["span_recall"] == 0.0 and result["span_f1"] == 0.0
    assert result["num_predicted_spans"] == 0 and result["num_gold_spans"] == 1
    assert result["per_type"]["PER"]["support"] == 1


def test_no_gold_spans_gives_recall_zero(span_f1):
    result = span_f1.compute(predictions=[["B-PER", "O"]], references=[["O", "O"]])
    # 1 predicted, 0 correct -> P = 0/1 = 0; 0 gold -> R = 0; F1 = 0. PER appears with support 0.
    assert result["span_recall"] == 0.0 and result["span_precision"] == 0.0 and result["span_f1"] == 0.0
    assert result["per_type"]["PER"] == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 0}


def test_nothing_at_all_scores_zero(span_f1):
    # no spans on either side: P = R = 0 by definition, F1 = 0, no types.
    for sentences in ([["O", "O"]], [[]], []):
        result = span_f1.compute(predictions=sentences, references=sentences)
        assert result["span_f1"] == 0.0 and result["per_type"] == {}
        assert result["num_gold_spans"] == 0 and result["num_predicted_spans"] == 0


def test_batches_add_up_to_the_whole(span_f1):
    for predicted, gold in zip(SEQEVAL_PRED, SEQEVAL_TRUE):
        span_f1.add_batch(predictions=[predicted], references=[gold])
    # the same two sentences as the README example: F1 = 0.5.
    assert span_f1.compute()["span_f1"] == pytest.approx(0.5)


def test_length_mismatch_names_the_sentence(span_f1):
    gold = [["B-PER", "O"], ["O", "B-LOC", "I-LOC"]]
    predicted = [["B-PER", "O"], ["O", "B-LOC"]]
    with pytest.raises(ValueError, match=r"sentence 1: 2 predicted tags but 3 reference tags"):
        span_f1.compute(predictions=predicted, references=gold)
    # the metric stays usable after the error.
    assert span_f1.compute(predictions=gold, references=gold)["span_f1"] == 1.0


def test_malformed_tags_fail(span_f1):
    with pytest.raises(ValueError, match="not IOB2"):
        span_f1.compute(predictions=[["S-PER"]], references=[["B-PER"]])
