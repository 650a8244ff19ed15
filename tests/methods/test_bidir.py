"""The attention-axis presets: bidir (layer-group patterns), ls_llama (all causal), ls_unllama
(all unmasked) are one word each, composed from the LoRA adapter and an attention choice; any
adapter combines with any attention. Bad configs fail before any weights load, naming the key."""

from __future__ import annotations

import pytest
import torch

from harness.config import ConfigError, instantiate_group
from harness.methods.full import Full
from harness.models.attention import unmasked_layers
from harness.models.attention_spec import AttentionSpec
from harness.models.info import ModelInfo
from tests.composing import compose_config
from tests.tiny_models import context, tiny_backbone

SMOLLM2 = ModelInfo("smollm2_135m", "llama", "decoder", 30, 9, 3, 576, 64, 49152)
MISTRAL_7B = ModelInfo("mistral_7b", "mistral", "decoder", 32, 32, 8, 4096, 128, 32000)
MINILM = ModelInfo("minilm_l6", "bert", "encoder", 6, 12, 12, 384, 32, 30522)


def _composed(overrides):
    cfg = compose_config(overrides)
    return instantiate_group(cfg.method, "method"), instantiate_group(cfg.attention, "attention")


def test_presets_are_lora_plus_an_attention_choice():
    method, attention = _composed(["method=bidir"])
    assert (method.name, type(method).__name__, attention.name, attention.pattern) == ("bidir", "LoRA", "layer_groups", "0011")
    method, attention = _composed(["method=ls_llama"])
    assert (method.name, attention.unmasked_layers(SMOLLM2)) == ("ls_llama", [])
    method, attention = _composed(["method=ls_unllama"])
    assert (method.name, attention.unmasked_layers(SMOLLM2)) == ("ls_unllama", list(range(30)))
    # Any adapter with any attention, and a preset's attention can be overridden.
    method, attention = _composed(["method=full", "attention=unmasked"])
    assert (method.name, attention.unmasked_layers(SMOLLM2)) == ("full", list(range(30)))
    method, attention = _composed(["method=bidir", "attention.pattern='1111'"])
    assert attention.unmasked_layers(MISTRAL_7B) == list(range(32))
    method, attention = _composed(["method=lora"])
    assert attention.name == "causal" and attention.is_causal


def test_pattern_selects_the_papers_groups():
    # Mistral-7B: 32 layers in 4 groups of 8; '0011' unmasks the top two groups.
    assert AttentionSpec(unmasked="groups", pattern="0011").unmasked_layers(MISTRAL_7B) == list(range(16, 32))
    # SmolLM2: 30 layers -> groups 0-7, 8-15, 16-23, 24-29 (the top group is shorter).
    assert AttentionSpec(unmasked="groups", pattern="1001").unmasked_layers(SMOLLM2) == [*range(0, 8), *range(24, 30)]
    assert AttentionSpec(unmasked="layers", layers=[0, 29]).unmasked_layers(SMOLLM2) == [0, 29]


def test_bad_configs_fail_at_start_naming_the_key():
    with pytest.raises(ValueError, match=r"attention\.pattern must have one bit per layer group.*4 groups"):
        AttentionSpec(unmasked="groups", pattern="001").check(SMOLLM2, "token_classification")
    with pytest.raises(ValueError, match=r"attention\.layers"):
        AttentionSpec(unmasked="layers", layers=[40]).check(MISTRAL_7B, "token_classification")
    with pytest.raises(ValueError, match=r"model family 'bert' .* supported families"):
        AttentionSpec(name="unmasked", unmasked="all").check(MINILM, "token_classification")
    with pytest.raises(ValueError, match=r"unmasked layers cannot pose formulation 'generation'"):
        AttentionSpec(unmasked="groups", pattern="0011").check(SMOLLM2, "generation")
    AttentionSpec().check(SMOLLM2, "generation")  # causal poses anything
    with pytest.raises(ValueError, match=r"attention\.unmasked"):
        AttentionSpec(unmasked="sometimes")
    with pytest.raises(ConfigError, match=r"attention\.pattern"):
        _composed(["method=bidir", "attention.pattern=00x1"])


def test_lora_with_a_pattern_unmasks_exactly_it_and_trains_lora_only():
    model, info = tiny_backbone("tiny_llama")
    method, _ = _composed(["method=bidir"])
    attention = AttentionSpec(unmasked="groups", group_size=1, pattern="0110")
    adapted = method.apply(attention.apply(model, info), context(info))
    assert unmasked_layers(adapted) == frozenset({1, 2})
    trainable = {n for n, p in adapted.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)


def test_full_fine_tuning_with_unmasked_attention_trains_everything():
    model, info = tiny_backbone("tiny_qwen2")
    adapted = Full().apply(AttentionSpec(unmasked="all").apply(model, info), context(info))
    assert all(p.requires_grad for p in adapted.parameters())
    assert unmasked_layers(adapted) == frozenset(range(info.num_layers))


def test_unmasked_model_sees_the_future_and_causal_does_not():
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    changed = ids.clone()
    changed[0, -1] = 42

    def first_token(attention):
        model, info = tiny_backbone("tiny_mistral")
        adapted = attention.apply(model, info).eval()
        with torch.no_grad():
            return [adapted(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state[0, 0] for x in (ids, changed)]

    causal = first_token(AttentionSpec())
    assert torch.equal(causal[0], causal[1])
    unmasked = first_token(AttentionSpec(unmasked="all"))
    assert not torch.allclose(unmasked[0], unmasked[1])
