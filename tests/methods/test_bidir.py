"""The attention-axis presets: bidir (layer-group patterns), ls_llama (all causal), ls_unllama
(all unmasked) are one word each, composed from the LoRA adapter and an attention choice; any
adapter combines with any attention. Bad configs fail before any weights load, naming the key.
A mixed layer-group pattern is checked layer by layer: exactly its layers see later tokens."""

from __future__ import annotations

import pytest
import torch

from harness.config import ConfigError, instantiate_group
from harness.methods.full import Full
from harness.models.attention import decoder_layers, layers_from_pattern, unmasked_layers
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


def _attention_outputs(model, attention_input: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
    """Each decoder layer's self-attention output (B, T, hidden) when EVERY layer's attention is fed
    `attention_input` in place of what the layers below produced (a pre-hook on each attention
    module swaps its hidden-states input; masks, positions and the harness's hooks are untouched)."""
    outputs: dict[int, torch.Tensor] = {}

    def feed(module, args, kwargs):
        if args:
            return (attention_input, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": attention_input}

    handles = []
    for index, layer in enumerate(decoder_layers(model)):
        handles.append(layer.self_attn.register_forward_pre_hook(feed, with_kwargs=True))
        handles.append(layer.self_attn.register_forward_hook(lambda m, a, out, i=index: outputs.__setitem__(i, out[0])))
    try:
        with torch.no_grad():
            model(input_ids=torch.zeros(attention_mask.shape, dtype=torch.long), attention_mask=attention_mask)
    finally:
        for handle in handles:
            handle.remove()
    return [outputs[index] for index in range(len(outputs))]


def _largest_difference_per_position(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().amax(dim=-1)  # (B, T)


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("family", ["tiny_llama", "tiny_mistral", "tiny_qwen2"])
@pytest.mark.parametrize("pattern, group_size", [("0101", 1), ("1010", 1), ("01", 2)])
def test_mixed_pattern_unmasks_exactly_its_layers_layer_by_layer(pattern, group_size, family, implementation):
    """The bidir preset with a mixed pattern: each unmasked layer lets a position see later real
    tokens, each causal layer does not, and no layer lets a real token see padding.

    The whole model's output cannot show this per layer: a causal layer above an unmasked one
    already receives future information through its input. So each layer's attention is isolated:
    every layer's attention module is fed the same hidden states (not the layer below's output),
    once as they are and once with one position perturbed, and each layer's attention output at
    the other positions is compared. Only the mask a layer applies can then make them differ.
    Both attention implementations the harness supports are checked (SDPA, where the harness
    passes is_causal=False, and eager, where it passes the padding-only mask)."""
    model, info = tiny_backbone(family, attn_implementation=implementation)
    overrides = ["method=bidir", f"attention.pattern='{pattern}'", f"attention.group_size={group_size}"]
    method, attention = _composed(overrides)
    adapted = method.apply(attention.apply(model, info), context(info)).eval()
    unmasked = set(layers_from_pattern(info.num_layers, group_size, pattern))
    assert unmasked_layers(adapted) == unmasked and 0 < len(unmasked) < info.num_layers  # mixed

    hidden = torch.randn(2, 6, info.hidden_size, generator=torch.Generator().manual_seed(0))

    def differences(mask, position):
        """Per layer, (B, T) largest change of the attention output when `position` is perturbed."""
        changed = hidden.clone()
        changed[:, position] += 3 * torch.randn(2, info.hidden_size, generator=torch.Generator().manual_seed(1))
        pairs = zip(_attention_outputs(adapted, changed, mask), _attention_outputs(adapted, hidden, mask))
        return [_largest_difference_per_position(a, b) for a, b in pairs]

    def check_sees_later_only_where_unmasked(layer, seen_from):
        if layer in unmasked:
            assert (seen_from > 1e-3).all(), f"layer {layer} is unmasked but does not see a later token"
        else:
            assert (seen_from <= 1e-6).all(), f"layer {layer} is causal but sees a later token"

    # No padding (the harness then passes no mask, only is_causal=False): positions 0-4 and the last.
    for layer, difference in enumerate(differences(torch.ones(2, 6, dtype=torch.long), 5)):
        check_sees_later_only_where_unmasked(layer, difference[:, :5])
    # Row 1 padded after four real tokens (the harness passes a key-padding mask).
    padded = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    for layer, difference in enumerate(differences(padded, 3)):  # real in both rows
        check_sees_later_only_where_unmasked(layer, difference[:, :3])
    for layer, difference in enumerate(differences(padded, 5)):  # padding in row 1, real in row 0
        assert (difference[1, :4] <= 1e-6).all(), f"layer {layer}: real tokens see padding"
        check_sees_later_only_where_unmasked(layer, difference[0, :5])
