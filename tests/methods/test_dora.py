"""DoRA is a preset over the LoRA adapter (conf/method/dora.yaml): peft's weight decomposition,
whose magnitude starts at each weight's column norm (identity) and trains with the low-rank pair."""

from __future__ import annotations

import torch

from harness.methods.lora import LoRA
from tests.tiny_models import CONF, context, method_from_yaml, tiny_backbone


def test_dora_preset_is_lora_with_a_trained_magnitude():
    method = method_from_yaml(CONF / "method" / "dora.yaml")
    assert isinstance(method, LoRA) and method.name == "dora" and method.use_dora and method.identity_at_init
    base, info = tiny_backbone("tiny_llama")
    weight = base.layers[0].self_attn.q_proj.weight.detach().clone()
    adapted = method.apply(base, context(info))
    named = {n: p for n, p in adapted.named_parameters() if p.requires_grad}
    magnitudes = {n: p for n, p in named.items() if "lora_magnitude_vector" in n}
    assert magnitudes and set(named) == {n for n in named if "lora_" in n}
    first = next(p for n, p in magnitudes.items() if "layers.0.self_attn.q_proj" in n)
    assert torch.allclose(first, weight.norm(dim=1), atol=1e-6)  # m = ||W|| per output: identity

    ids = torch.randint(0, 1000, (2, 6), generator=torch.Generator().manual_seed(0))
    adapted.train()
    adapted(input_ids=ids).last_hidden_state.pow(2).mean().backward()
    before = first.detach().clone()
    torch.optim.AdamW(named.values(), lr=1e-2).step()
    assert not torch.equal(first.detach(), before)
