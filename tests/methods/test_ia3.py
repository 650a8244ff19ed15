"""(IA)^3 through peft: the family's default targets get vectors of ones (the base model until it
trains), feed-forward targets scale their input, and impossible target lists fail naming the key."""

from __future__ import annotations

import pytest
import torch

from harness.methods.ia3 import IA3
from tests.tiny_models import CONF, FAMILIES, context, method_from_yaml, tiny_backbone


@pytest.mark.parametrize("family", FAMILIES)
def test_default_targets_start_at_ones(family):
    base, info = tiny_backbone(family)
    adapted = method_from_yaml(CONF / "method" / "ia3.yaml").apply(base, context(info))
    vectors = {n: p for n, p in adapted.named_parameters() if p.requires_grad}
    assert vectors and all("ia3_l" in n for n in vectors)
    assert all(torch.equal(v, torch.ones_like(v)) for v in vectors.values())
    targets = {n.split(".")[-3] for n in vectors}  # ...<module>.ia3_l.default
    attention = {"q_proj", "v_proj"} if family == "tiny_qwen2" else {"k_proj", "v_proj"}
    assert targets == attention | {"down_proj"}
    down = next(v for n, v in vectors.items() if "down_proj" in n)
    value = next(v for n, v in vectors.items() if "v_proj" in n)
    assert down.numel() == 128  # feed-forward: scales the input (intermediate size)
    assert value.numel() == 32  # attention: scales the output (2 KV heads x 16)


def test_impossible_targets_fail_naming_the_key():
    with pytest.raises(ValueError, match=r"method\.feedforward_modules: \['down_proj'\] are not in method\.target_mod"):
        IA3(target_modules=["v_proj"], feedforward_modules=["down_proj"])
    with pytest.raises(ValueError, match=r"method\.target_modules: an empty list"):
        IA3(target_modules=[])
    base, info = tiny_backbone("tiny_llama")
    with pytest.raises(ValueError, match=r"method\.target_modules: "):
        IA3(target_modules=["no_such_proj"]).apply(base, context(info))
