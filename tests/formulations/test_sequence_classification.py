"""Sequence classification: pooling by the mask on either padding side, pos_weight from train
counts, and the decision threshold chosen on dev is the one test is decided with."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.formulations.sequence_classification import SequenceClassifier, label_pos_weight, pool
from harness.methods.lora import LoRA
from harness.metrics import metric_for
from harness.tasks.examples import LabeledText

LABELS = ["a", "b", "c"]


def test_pooling_reads_the_mask_whichever_side_is_padded():
    hidden = torch.arange(2 * 5 * 1, dtype=torch.float32).reshape(2, 5, 1)  # value = position (+5 row 1)
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert pool(hidden, right, "last").flatten().tolist() == [2.0, 9.0]
    assert pool(hidden, left, "last").flatten().tolist() == [4.0, 9.0]
    assert pool(hidden, right, "first").flatten().tolist() == [0.0, 5.0]
    assert pool(hidden, left, "first").flatten().tolist() == [2.0, 5.0]
    assert pool(hidden, right, "mean").flatten().tolist() == [1.0, 7.0]
    assert pool(hidden, left, "mean").flatten().tolist() == [3.0, 7.0]


def test_pos_weight_is_negatives_over_positives_from_train():
    train = [LabeledText("x", ("a",)), LabeledText("y", ("a", "b")), LabeledText("z", ()), LabeledText("w", ("a",))]
    # a: 3 positives, 1 negative; b: 1 positive, 3 negatives; c: none (floored at 1 positive) -> 4.
    torch.testing.assert_close(label_pos_weight(train, LABELS), torch.tensor([1 / 3, 3.0, 4.0]))


def _classifier(examples) -> SequenceClassifier:
    module = SequenceClassifier(
        nn.Identity(), 4, LABELS, multi_label=True, pooling="last", metric=metric_for("multi_label"),
        metric_name="macro_f1", method=LoRA(), examples=examples, threshold=0.5, tune_threshold=True,
    )  # fmt: skip

    class _State:  # score() reads whether a fit is running; these tests call it directly
        fn = "validate"

    module._trainer = type("T", (), {"state": _State()})()
    return module


def test_threshold_tuned_on_dev_is_saved_with_the_checkpoint_and_decides_test():
    gold = [("a",), ("b",), ("a", "c")]
    examples = {split: [LabeledText(str(i), g) for i, g in enumerate(gold)] for split in ("dev", "test")}
    # Every true label has probability 0.3, every false one 0.1: only a threshold in (0.1, 0.3]
    # is perfect on dev; 0.5 would predict nothing.
    probs = {i: ([0.3 if l in g else 0.1 for l in LABELS], None) for i, g in enumerate(gold)}
    module = _classifier(examples)
    dev = module.score("dev", probs)
    assert dev["macro_f1"] == 1.0 and 0.1 < dev["threshold"] <= 0.3
    checkpoint = {"state_dict": {}}
    module.on_save_checkpoint(checkpoint)

    fresh = _classifier(examples)
    assert fresh.threshold == 0.5
    fresh.on_load_checkpoint(checkpoint)
    assert fresh.threshold == dev["threshold"]
    test = fresh.score("test", probs)  # test never tunes: it is decided with the dev threshold
    assert test["threshold"] == dev["threshold"] and test["macro_f1"] == 1.0
    assert fresh.row("test", 2, probs[2][0], None)["prediction"] == ["a", "c"]


def test_untuned_threshold_stays_fixed():
    examples = {"dev": [LabeledText("0", ("a",))]}
    module = _classifier(examples)
    module.tune_threshold = False
    scores = module.score("dev", {0: ([0.3, 0.1, 0.1], None)})
    assert scores["threshold"] == 0.5 and scores["predicted_cardinality"] == 0.0


@pytest.mark.parametrize("multi_label", [True, False])
def test_loss_matches_the_objective(multi_label):
    module = SequenceClassifier(
        nn.Identity(), 3, LABELS, multi_label=multi_label, pooling="last",
        metric=metric_for("multi_label" if multi_label else "single_label"), metric_name="macro_f1",
        method=LoRA(), examples={}, pos_weight=torch.tensor([1.0, 2.0, 3.0]) if multi_label else None,
    )  # fmt: skip

    hidden = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(0))

    class _Backbone(nn.Module):  # returns fixed hidden states, whatever the input
        def forward(self, **kwargs):
            return type("Out", (), {"last_hidden_state": hidden})()

    module.backbone = _Backbone()
    module.eval()
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    batch = {"input_ids": torch.zeros(2, 4, dtype=torch.long), "attention_mask": mask}
    logits = module.head(hidden[torch.arange(2), torch.tensor([2, 3])])
    if multi_label:
        batch["targets"] = [[1, 0, 1], [0, 1, 0]]
        expected = nn.functional.binary_cross_entropy_with_logits(
            logits, torch.tensor(batch["targets"], dtype=torch.float32), pos_weight=torch.tensor([1.0, 2.0, 3.0])
        )
    else:
        batch["targets"] = torch.tensor([2, 0])
        expected = nn.functional.cross_entropy(logits, batch["targets"])
    torch.testing.assert_close(module.loss(batch), expected)
