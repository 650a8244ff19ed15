"""SingleLabel gives the known accuracy and macro F1 on hand-made class ids."""

from __future__ import annotations

import pytest

from harness.metrics import SingleLabel
from harness.metrics.single_label import single_label_scores

GOLD = [0, 0, 1, 2, 2, 2]
PRED = [0, 1, 1, 2, 0, 3]  # right: e0, e2, e3


@pytest.fixture(scope="module")
def single_label():
    return SingleLabel()


def test_known_example(single_label):
    result = single_label.compute(predictions=PRED, references=GOLD)
    # 3 of 6 right.
    assert result["accuracy"] == 0.5
    assert result["num_examples"] == 6
    per_label = result["per_label"]
    assert list(per_label) == [0, 1, 2, 3]  # every id seen on either side, sorted
    # 0: gold e0 e1, predicted e0 e4, correct 1 -> P = 1/2, R = 1/2, F1 = 2*1/(2+2) = 1/2.
    assert per_label[0] == pytest.approx({"f1": 0.5, "precision": 0.5, "recall": 0.5, "support": 2})
    # 1: gold e2, predicted e1 e2, correct 1 -> P = 1/2, R = 1, F1 = 2/(2+1) = 2/3.
    assert per_label[1] == pytest.approx({"f1": 2 / 3, "precision": 0.5, "recall": 1.0, "support": 1})
    # 2: gold e3 e4 e5, predicted e3, correct 1 -> P = 1, R = 1/3, F1 = 2/(1+3) = 1/2.
    assert per_label[2] == pytest.approx({"f1": 0.5, "precision": 1.0, "recall": 1 / 3, "support": 3})
    # 3: only predicted (e5) -> P = 0/1, R = 0 (no gold), F1 = 0; it still counts in the macro mean.
    assert per_label[3] == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 0}
    # macro over the 4 seen labels: (1/2 + 2/3 + 1/2 + 0) / 4 = (5/3) / 4 = 5/12.
    assert result["macro_f1"] == pytest.approx(5 / 12)


def test_labels_never_seen_are_left_out_of_the_macro_mean(single_label):
    names = ["a", "b", "c", "d", "e"]  # "e" (id 4) is neither gold nor predicted
    result = single_label.compute(predictions=PRED, references=GOLD, label_names=names)
    assert list(result["per_label"]) == ["a", "b", "c", "d"]
    assert result["macro_f1"] == pytest.approx(5 / 12)  # the same 4 labels as above


def test_a_class_never_predicted(single_label):
    result = single_label.compute(predictions=[0, 0], references=[0, 1])
    # 0: gold 1, predicted 2, correct 1 -> F1 = 2/3; 1: never predicted -> P = 0, R = 0/1, F1 = 0.
    assert result["accuracy"] == 0.5
    assert result["per_label"][1] == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 1}
    assert result["macro_f1"] == pytest.approx((2 / 3 + 0) / 2)


def test_perfect_single_example_and_empty(single_label):
    assert single_label.compute(predictions=[3], references=[3]) == {
        "accuracy": 1.0,
        "macro_f1": 1.0,
        "per_label": {3: {"f1": 1.0, "precision": 1.0, "recall": 1.0, "support": 1}},
        "num_examples": 1,
    }
    # no examples: defined as 0, not NaN.
    assert single_label_scores([], []) == {"accuracy": 0.0, "macro_f1": 0.0, "per_label": {}, "num_examples": 0}


def test_batches_add_up_to_the_whole(single_label):
    single_label.add_batch(predictions=PRED[:2], references=GOLD[:2])
    single_label.add_batch(predictions=PRED[2:], references=GOLD[2:])
    assert single_label.compute()["macro_f1"] == pytest.approx(5 / 12)


def test_an_id_without_a_name_fails(single_label):
    with pytest.raises(ValueError, match=r"example 1: predicted id 2 has no name \(label_names has 2\)"):
        single_label.compute(predictions=[0, 2], references=[0, 1], label_names=["a", "b"])


def test_count_mismatch_fails():
    with pytest.raises(ValueError, match="got 2 predictions but 1 references"):
        single_label_scores([0, 1], [0])
