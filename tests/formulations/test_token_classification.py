"""The token-classification objective: padding never changes a sequence's logits."""

from __future__ import annotations

import pytest
import torch

from harness.formulations.batching import pad_batch
from harness.formulations.lifecycle import position_ids_from_mask
from harness.formulations.token_classification import TokenClassifier
from harness.methods.lora import LoRA
from harness.metrics import metric_for
from tests.tiny_models import FAMILIES, tiny_backbone


def _classifier(family: str, attn: str = "sdpa") -> TokenClassifier:
    model, info = tiny_backbone(family, attn)
    torch.manual_seed(0)
    return TokenClassifier(
        model, info.hidden_size, ["O", "B-PER", "I-PER"], metric_for("span_f1"), "span_f1", LoRA(), lr=1e-3
    ).eval()


def _example(ids: list[int]) -> dict:
    n = len(ids)
    return {"input_ids": ids, "labels": [0] * n, "word_index": list(range(n)), "index": 0, "num_words": n}


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_leaves_real_token_logits_unchanged(family, side, attn):
    classifier = _classifier(family, attn)
    short = [11, 12, 13, 14, 15]
    long = list(range(100, 125))  # 25 tokens: the short one gets 20 pads; Mistral's window is 16
    with torch.no_grad():
        alone = pad_batch([_example(short)], pad_token_id=2)
        logits_alone = classifier(alone["input_ids"], alone["attention_mask"])[0]
        batch = pad_batch([_example(long), _example(short)], pad_token_id=2, padding_side=side)
        logits_batch = classifier(batch["input_ids"], batch["attention_mask"])[1]
    real = batch["attention_mask"][1].bool()
    torch.testing.assert_close(logits_batch[real], logits_alone, rtol=1e-5, atol=1e-5)


def test_position_ids_count_real_tokens_only():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 0, 0]])
    assert position_ids_from_mask(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 2, 2]]


def test_only_trainable_tensors_are_checkpointed():
    classifier = _classifier("tiny_llama")
    for name, parameter in classifier.backbone.named_parameters():
        parameter.requires_grad_("layers.0.self_attn.q_proj" in name)
    checkpoint = {"state_dict": classifier.state_dict()}
    classifier.on_save_checkpoint(checkpoint)
    kept = set(checkpoint["state_dict"])
    assert kept == {"backbone.layers.0.self_attn.q_proj.weight", "head.weight", "head.bias"}


def test_non_finite_loss_stops_the_run():
    classifier = _classifier("tiny_llama")
    with torch.no_grad():
        classifier.head.weight.fill_(float("nan"))
    batch = pad_batch([_example([11, 12, 13])], pad_token_id=2)
    with pytest.raises(FloatingPointError, match="non-finite training loss"):
        classifier.training_step(batch, 0)
