"""MultiLabel gives the known scores on hand-made multi-hot vectors (each number derived by hand)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.metrics import MultiLabel
from harness.metrics.multi_label import multi_label_scores

# 3 examples, 4 labels.
GOLD = [
    [1, 1, 0, 0],  # {0, 1}
    [0, 1, 1, 0],  # {1, 2}
    [1, 0, 0, 0],  # {0}
]
PRED = [
    [1, 0, 0, 1],  # {0, 3}
    [0, 1, 1, 0],  # {1, 2}
    [0, 0, 0, 0],  # {}
]


@pytest.fixture(scope="module")
def multi_label():
    return MultiLabel()


def test_known_example(multi_label):
    result = multi_label.compute(predictions=PRED, references=GOLD)
    per_label = result["per_label"]
    assert sorted(per_label) == [0, 1, 2, 3]
    # label 0: gold in e0, e2; predicted in e0; correct 1. P = 1/1, R = 1/2, F1 = 2*1/(1+2) = 2/3.
    assert per_label[0] == pytest.approx({"f1": 2 / 3, "precision": 1.0, "recall": 0.5, "support": 2})
    # label 1: gold in e0, e1; predicted in e1; correct 1. P = 1, R = 1/2, F1 = 2/3.
    assert per_label[1] == pytest.approx({"f1": 2 / 3, "precision": 1.0, "recall": 0.5, "support": 2})
    # label 2: gold in e1, predicted in e1. P = R = F1 = 1.
    assert per_label[2] == {"f1": 1.0, "precision": 1.0, "recall": 1.0, "support": 1}
    # label 3: never gold, predicted in e0. P = 0/1, R = 0 (no gold), F1 = 0/(1+0) = 0.
    assert per_label[3] == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 0}
    # macro: (2/3 + 2/3 + 1 + 0) / 4 = (7/3) / 4 = 7/12.
    assert result["macro_f1"] == pytest.approx(7 / 12)
    # micro: correct 3, predicted 4, gold 5 -> P = 3/4, R = 3/5, F1 = 2*3/(4+5) = 2/3.
    assert result["micro_f1"] == pytest.approx(2 / 3)
    # jaccard: e0 {0}/{0,1,3} = 1/3, e1 2/2 = 1, e2 0/{0} = 0 -> (1/3 + 1 + 0) / 3 = 4/9.
    assert result["jaccard"] == pytest.approx(4 / 9)
    # cardinality: predicted (2 + 2 + 0) / 3, gold (2 + 2 + 1) / 3.
    assert result["predicted_cardinality"] == pytest.approx(4 / 3)
    assert result["gold_cardinality"] == pytest.approx(5 / 3)
    assert result["num_examples_without_prediction"] == 1  # e2
    assert result["num_examples"] == 3


def test_label_names_key_per_label_by_name(multi_label):
    result = multi_label.compute(predictions=PRED, references=GOLD, label_names=["w", "x", "y", "z"])
    assert list(result["per_label"]) == ["w", "x", "y", "z"]
    assert result["per_label"]["y"]["f1"] == 1.0  # label 2 above
    assert result["macro_f1"] == pytest.approx(7 / 12)  # names change no score


def test_a_label_that_never_occurs_counts_zero_in_the_macro_mean(multi_label):
    gold = [[1, 0, 0], [0, 1, 0]]
    # perfect predictions; label 2 is neither gold nor predicted anywhere: F1 = 0 (zero_division=0).
    result = multi_label.compute(predictions=gold, references=gold)
    assert result["per_label"][2] == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 0}
    # macro (1 + 1 + 0) / 3 = 2/3; micro 2*2/(2+2) = 1; jaccard (1/1 + 1/1) / 2 = 1.
    assert result["macro_f1"] == pytest.approx(2 / 3)
    assert result["micro_f1"] == 1.0 and result["jaccard"] == 1.0


def test_no_predictions(multi_label):
    gold = [[1, 0], [0, 0]]
    result = multi_label.compute(predictions=[[0, 0], [0, 0]], references=gold)
    # nothing predicted: every P = 0, so every F1 = 0; micro 0/(0+1) = 0.
    assert result["macro_f1"] == 0.0 and result["micro_f1"] == 0.0
    # jaccard: e0 0/{0} = 0; e1 empty vs empty = 1 by definition -> (0 + 1) / 2.
    assert result["jaccard"] == 0.5
    assert result["num_examples_without_prediction"] == 2
    assert result["predicted_cardinality"] == 0.0 and result["gold_cardinality"] == 0.5


def test_empty_gold_and_empty_prediction_is_a_perfect_jaccard(multi_label):
    nothing = [[0, 0, 0], [0, 0, 0]]
    result = multi_label.compute(predictions=nothing, references=nothing)
    # every example: |{} ∩ {}| / |{} ∪ {}| := 1 (sklearn's zero_division=1); no label has any
    # positive, so all F1 are 0 (zero_division=0) and so are the means.
    assert result["jaccard"] == 1.0
    assert result["macro_f1"] == 0.0 and result["micro_f1"] == 0.0
    assert result["num_examples_without_prediction"] == 2


def test_no_examples(multi_label):
    result = multi_label.compute(predictions=[], references=[], label_names=["a", "b"])
    assert result["num_examples"] == 0
    assert result["macro_f1"] == result["micro_f1"] == result["jaccard"] == 0.0
    assert result["predicted_cardinality"] == result["gold_cardinality"] == 0.0
    assert result["per_label"] == {
        name: {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 0} for name in ("a", "b")
    }
    assert multi_label_scores([], [])["per_label"] == {}


def test_batches_add_up_to_the_whole(multi_label):
    for predicted, gold in zip(PRED, GOLD):
        multi_label.add_batch(predictions=[predicted], references=[gold])
    assert multi_label.compute()["macro_f1"] == pytest.approx(7 / 12)


def test_invariant_under_permuting_labels_and_examples():
    # A seeded property check (hypothesis is not a dependency): reordering the label columns
    # reorders per_label and changes no aggregate; reordering the examples changes nothing.
    rng = np.random.default_rng(0)
    for _ in range(20):
        gold = rng.integers(0, 2, size=(7, 5))
        predicted = rng.integers(0, 2, size=(7, 5))
        result = multi_label_scores(predicted.tolist(), gold.tolist())
        columns = rng.permutation(5)
        rows = rng.permutation(7)
        by_columns = multi_label_scores(predicted[:, columns].tolist(), gold[:, columns].tolist())
        by_rows = multi_label_scores(predicted[rows].tolist(), gold[rows].tolist())
        for name in ("macro_f1", "micro_f1", "jaccard", "predicted_cardinality", "gold_cardinality"):
            assert by_columns[name] == pytest.approx(result[name])
            assert by_rows[name] == pytest.approx(result[name])
        assert by_rows["per_label"] == result["per_label"]
        assert [by_columns["per_label"][new] for new in range(5)] == [
            result["per_label"][int(old)] for old in columns
        ]


def test_vectors_of_the_wrong_length_fail_naming_the_example(multi_label):
    with pytest.raises(ValueError, match=r"example 1: predicted vector has 2 entries, expected 3"):
        multi_label.compute(predictions=[[1, 0, 0], [1, 0]], references=[[1, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match=r"example 0: reference vector has 2 entries, expected 3"):
        multi_label_scores([[1, 0, 0]], [[1, 0]], label_names=["a", "b", "c"])


def test_entries_other_than_zero_and_one_fail(multi_label):
    with pytest.raises(ValueError, match=r"example 1: predicted entry 1 is 2, expected 0 or 1"):
        multi_label.compute(predictions=[[1, 0], [0, 2]], references=[[1, 0], [0, 1]])
    with pytest.raises(ValueError, match=r"reference entry 0 is 0\.5"):
        multi_label_scores([[1]], [[0.5]])


def test_duplicate_label_names_fail():
    with pytest.raises(ValueError, match="duplicates"):
        multi_label_scores([[1, 0]], [[1, 0]], label_names=["a", "a"])
