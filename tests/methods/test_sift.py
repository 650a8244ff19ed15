"""The sift preset: LoRA (or every weight with full: true) over the span_generation formulation, its
demonstrations spec and loss mode declared through the method contract; impossible values fail
naming the key."""

from __future__ import annotations

import pytest
import torch

from harness.methods.demonstration_spec import DemonstrationSpec
from harness.methods.sift import SIFT
from tests.tiny_models import CONF, context, method_from_yaml, tiny_backbone


def test_yaml_declares_lora_src_and_four_random_demonstrations():
    method = method_from_yaml(CONF / "method" / "sift.yaml")
    assert method.name == "sift" and method.stages == ("train",) and method.formulations == ("span_generation",)
    assert method.demonstrations == DemonstrationSpec(k=4, selection="random")
    assert method.loss_mode == "src" and not method.full
    assert SIFT(k=8, selection="bm25", loss_mode="mrc").demonstrations == DemonstrationSpec(8, "bm25")


@pytest.mark.parametrize("full", [False, True], ids=["lora", "full"])
def test_lora_trains_adapters_only_and_full_trains_every_weight(full):
    base, info = tiny_backbone("tiny_llama")
    total = sum(p.numel() for p in base.parameters())
    adapted = SIFT(full=full).apply(base, context(info, "span_generation"))
    trainable = {n for n, p in adapted.named_parameters() if p.requires_grad}
    if full:
        assert sum(p.numel() for p in adapted.parameters() if p.requires_grad) == total
        assert not any("lora_" in n for n, _ in adapted.named_parameters())
    else:
        assert trainable and all("lora_" in n for n in trainable)
        # tiny_llama: 4 layers, r = 8 on q (64 -> 64) and v (64 -> 32)
        assert sum(p.numel() for p in adapted.parameters() if p.requires_grad) == 4 * 8 * (64 + 64 + 64 + 32)
    with torch.no_grad():
        ids = torch.tensor([[5, 6, 7]])
        torch.testing.assert_close(adapted(input_ids=ids).last_hidden_state, tiny_backbone("tiny_llama")[0](input_ids=ids).last_hidden_state)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"loss_mode": "all"}, "method.loss_mode"), ({"k": -1}, "method.k"), ({"selection": "closest"}, "method.selection"),
     ({"r": 0}, "method.r"), ({"dropout": 1.0}, "method.dropout")],
)  # fmt: skip
def test_impossible_values_fail_naming_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        SIFT(**kwargs)


def test_only_span_generation_is_supported():
    _, info = tiny_backbone("tiny_llama")
    SIFT().check(info, "span_generation")
    with pytest.raises(ValueError, match="method=sift: formulation 'token_classification' is not supported.*e.g. formulation=span_generation"):
        SIFT().check(info, "token_classification")
