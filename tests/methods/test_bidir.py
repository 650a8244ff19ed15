"""The attention-axis presets: bidir (layer-group patterns), ls_llama (all causal), ls_unllama
(all unmasked). Bad configs fail before any weights load, naming the key and the reason."""

from __future__ import annotations

import pytest
import torch

from harness.config import ConfigError, instantiate_group
from harness.methods.bidir import Bidir
from harness.methods.ls_llama import LsLlama
from harness.methods.ls_unllama import LsUnllama
from harness.models.attention import unmasked_layers
from harness.models.info import ModelInfo
from tests.composing import compose_config
from tests.tiny_models import tiny_backbone

SMOLLM2 = ModelInfo("smollm2_135m", "llama", "decoder", 30, 9, 3, 576, 64, 49152)
MISTRAL_7B = ModelInfo("mistral_7b", "mistral", "decoder", 32, 32, 8, 4096, 128, 32000)
MINILM = ModelInfo("minilm_l6", "bert", "encoder", 6, 12, 12, 384, 32, 30522)


def test_pattern_selects_the_papers_groups():
    # Mistral-7B: 32 layers in 4 groups of 8; '0011' unmasks the top two groups.
    assert Bidir(pattern="0011").layers(MISTRAL_7B) == list(range(16, 32))
    # SmolLM2: 30 layers -> groups 0-7, 8-15, 16-23, 24-29 (the top group is shorter).
    assert Bidir(pattern="1001").layers(SMOLLM2) == [*range(0, 8), *range(24, 30)]
    assert Bidir(unmasked_layers=[0, 29]).layers(SMOLLM2) == [0, 29]
    assert LsLlama().layers(SMOLLM2) == [] and LsUnllama().layers(SMOLLM2) == list(range(30))


def test_bad_configs_fail_at_start_naming_the_key():
    with pytest.raises(ValueError, match=r"method\.pattern must have one bit per layer group.*4 groups"):
        Bidir(pattern="001").check(SMOLLM2, "token_classification")
    with pytest.raises(ValueError, match=r"method\.unmasked_layers"):
        Bidir(unmasked_layers=[40]).check(MISTRAL_7B, "token_classification")
    with pytest.raises(ValueError, match=r"model family 'bert' .* supported families"):
        LsUnllama().check(MINILM, "token_classification")
    with pytest.raises(ValueError, match=r"formulation 'generative' is not supported"):
        Bidir().check(SMOLLM2, "generative")
    with pytest.raises(ValueError, match=r"method\.adapter"):
        Bidir(adapter="prefix")
    with pytest.raises(ConfigError, match=r"method\.pattern"):
        instantiate_group(compose_config(["method=bidir", "method.pattern=00x1"]).method, "method")


def test_apply_unmasks_exactly_the_pattern_and_trains_lora_only():
    model, info = tiny_backbone("tiny_llama")
    method = Bidir(group_size=1, pattern="0110")
    adapted = method.apply(model, info)
    assert unmasked_layers(adapted) == frozenset({1, 2})
    trainable = {n for n, p in adapted.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)


def test_full_fine_tuning_variant_trains_everything():
    model, info = tiny_backbone("tiny_qwen2")
    adapted = LsUnllama(adapter="full").apply(model, info)
    assert all(p.requires_grad for p in adapted.parameters())
    assert unmasked_layers(adapted) == frozenset(range(info.num_layers))


def test_unmasked_model_sees_the_future_and_causal_does_not():
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    changed = ids.clone()
    changed[0, -1] = 42

    def first_token(method):
        model, info = tiny_backbone("tiny_mistral")
        adapted = method.apply(model, info).eval()
        with torch.no_grad():
            return [adapted(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state[0, 0] for x in (ids, changed)]

    causal = first_token(LsLlama())
    assert torch.equal(causal[0], causal[1])
    unmasked = first_token(LsUnllama())
    assert not torch.allclose(unmasked[0], unmasked[1])
