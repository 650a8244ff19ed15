"""Padding-only attention in chosen layers: a masked layer cannot see the future, an unmasked one
can, padding never changes a sequence's outputs, and no unmasked layer means the plain model."""

from __future__ import annotations

from copy import deepcopy

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForTokenClassification,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    MistralConfig,
    Qwen2Config,
)

from harness.models.attention import (
    AttentionControlError,
    decoder_layers,
    layers_from_pattern,
    set_unmasked_layers,
    unmasked_layers,
    validate_layers,
)

NUM_LAYERS = 4
SLIDING_WINDOW = 4  # Mistral's window, shorter than the test sequences
LENGTH = 10
CONFIGS = {"llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config}
IMPLEMENTATIONS = ("sdpa", "eager")
MODELS = [(family, impl) for family in CONFIGS for impl in IMPLEMENTATIONS]


def tiny_config(family: str, **overrides):
    extra = {"sliding_window": SLIDING_WINDOW} if family == "mistral" else {}
    return CONFIGS[family](
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=NUM_LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
        max_position_embeddings=64,
        initializer_range=0.2,  # larger than default so that one token's influence is far above fp32 noise
        pad_token_id=0,
        **extra,
        **overrides,
    )


def tiny_model(family: str, impl: str, head=AutoModelForCausalLM, **overrides):
    torch.manual_seed(0)
    return head.from_config(tiny_config(family, **overrides), attn_implementation=impl).eval()


def random_ids(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(1, 128, (batch, length), generator=generator)


def layer_outputs(model, **inputs) -> list[torch.Tensor]:
    """The hidden states at the output of each decoder layer, bottom first."""
    outputs: list[torch.Tensor] = []

    def record(module, args, output):
        outputs.append(output[0] if isinstance(output, tuple) else output)

    handles = [layer.register_forward_hook(record) for layer in decoder_layers(model)]
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    assert len(outputs) == NUM_LAYERS
    return outputs


def logits(model, **inputs) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs).logits


def assert_sees_future_exactly_from(model, unmasked: set[int], attention_mask: bool) -> None:
    """Changing the last token changes token 0 at layer l iff some layer <= l is unmasked."""
    ids = random_ids(2, LENGTH)
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 17) % 127 + 1
    mask = {"attention_mask": torch.ones_like(ids)} if attention_mask else {}
    before = layer_outputs(model, input_ids=ids, **mask)
    after = layer_outputs(model, input_ids=changed, **mask)
    for layer in range(NUM_LAYERS):
        difference = (before[layer][:, 0] - after[layer][:, 0]).abs().max().item()
        if any(below <= layer for below in unmasked):
            assert difference > 1e-4, f"layer {layer} should see the last token (unmasked: {sorted(unmasked)})"
        else:
            assert difference == 0.0, f"layer {layer} saw the future (unmasked: {sorted(unmasked)}): {difference}"


# --- which layers a pattern selects ------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_layers", "group_size", "pattern", "expected"),
    [
        (32, 8, "0011", list(range(16, 32))),
        (32, 8, "1000", list(range(0, 8))),
        (32, 8, "0000", []),
        (32, 32, "1", list(range(32))),
        (4, 1, "0101", [1, 3]),
        # 30 layers in groups of 8: groups 0-7, 8-15, 16-23, 24-29 (the last is shorter)
        (30, 8, "0001", [24, 25, 26, 27, 28, 29]),
        (30, 8, "1001", [*range(8), *range(24, 30)]),
        (30, 8, "0110", list(range(8, 24))),
        (3, 5, "1", [0, 1, 2]),
    ],
)
def test_layers_from_pattern(num_layers, group_size, pattern, expected):
    assert layers_from_pattern(num_layers, group_size, pattern) == expected


@pytest.mark.parametrize(
    ("group_size", "pattern", "message"),
    [
        (
            8,
            "001",
            r"attention\.pattern .*30 layers in groups of 8 make 4 groups \(the last has 6 layers\), got '001' \(3 bits\)",
        ),
        (8, "00110", r"attention\.pattern .*make 4 groups.*got '00110' \(5 bits\)"),
        (8, "00a1", r"attention\.pattern may contain only '0' and '1', got '00a1'.*'a'"),
        (8, "", r"attention\.pattern .*4 groups.*got '' \(0 bits\)"),
        (8, 11, r"attention\.pattern must be a string.*got 11.*quote it in YAML"),
        (0, "1", r"attention\.group_size must be an integer >= 1, got 0"),
        (-2, "1", r"attention\.group_size must be an integer >= 1, got -2"),
    ],
)
def test_layers_from_pattern_rejects_bad_config(group_size, pattern, message):
    with pytest.raises(ValueError, match=message):
        layers_from_pattern(30, group_size, pattern)


def test_validate_layers():
    assert validate_layers(4, [3, 1, 1]) == [1, 3]
    assert validate_layers(4, []) == []
    with pytest.raises(ValueError, match=r"attention\.layers .*\[-1, 4\] outside .*4 layers: allowed are 0\.\.3"):
        validate_layers(4, [0, 4, -1])
    with pytest.raises(ValueError, match=r"attention\.layers must hold integer"):
        validate_layers(4, ["1"])


# --- a masked layer cannot see the future, an unmasked one can ---------------------------------


@pytest.mark.parametrize(("family", "impl"), MODELS)
@pytest.mark.parametrize(
    ("group_size", "pattern"),
    [(1, "0000"), (1, "0010"), (1, "0001"), (1, "0101"), (1, "1000"), (2, "01"), (2, "11")],
)
@pytest.mark.parametrize("attention_mask", [False, True], ids=["no-mask", "all-ones-mask"])
def test_pattern_unmasks_exactly_its_layers(family, impl, group_size, pattern, attention_mask):
    model = tiny_model(family, impl)
    layers = layers_from_pattern(NUM_LAYERS, group_size, pattern)
    set_unmasked_layers(model, layers)
    assert unmasked_layers(model) == frozenset(layers)
    assert_sees_future_exactly_from(model, set(layers), attention_mask)


@pytest.mark.parametrize("family", CONFIGS)
@pytest.mark.parametrize("unmasked", [{1, 3}, {2}, {0, 1, 2, 3}])
def test_attention_weights_follow_each_layers_mask(family, unmasked):
    """Eager attention weights, layer by layer: unmasked layers see every real token and no
    padding; the others keep the model's causal (and sliding-window) mask."""
    model = tiny_model(family, "eager")
    set_unmasked_layers(model, unmasked)
    ids = random_ids(2, LENGTH)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # right padding in the second sequence
    with torch.no_grad():
        attentions = model(input_ids=ids, attention_mask=mask, output_attentions=True).attentions
    query = torch.arange(LENGTH)[:, None]
    key = torch.arange(LENGTH)[None, :]
    causal = key <= query
    if family == "mistral":
        causal &= key > query - SLIDING_WINDOW
    real = mask.bool()[:, None, None, :]  # (B, 1, 1, T)
    for layer, weights in enumerate(attentions):  # (B, H, T, T)
        allowed = real if layer in unmasked else real & causal
        assert torch.all(weights.masked_select(~allowed.expand_as(weights)) == 0), f"layer {layer}"
        real_rows = weights[0]  # the unpadded sequence: every allowed pair gets weight
        assert torch.all(real_rows.masked_select(allowed[0].expand_as(real_rows)) > 0), f"layer {layer}"


@pytest.mark.parametrize("family", CONFIGS)
def test_sdpa_gets_no_dense_mask(family):
    """Unmasked layers get None (no padding) or a (B, 1, 1, T) key-padding mask, and
    is_causal=False; the other layers get exactly the plain model's mask."""
    model = tiny_model(family, "sdpa")
    received: dict[int, tuple] = {}

    def record(index):
        def hook(module, args, kwargs):
            received[index] = (kwargs.get("attention_mask"), kwargs.get("is_causal"))

        return hook

    for index, layer in enumerate(decoder_layers(model)):
        layer.self_attn.register_forward_pre_hook(record(index), with_kwargs=True)
    ids = random_ids(2, LENGTH)
    padded = torch.ones_like(ids)
    padded[1, 6:] = 0
    for mask in (None, padded):
        set_unmasked_layers(model, [])
        logits(model, input_ids=ids, attention_mask=mask)
        plain = dict(received)
        set_unmasked_layers(model, [1, 2])
        logits(model, input_ids=ids, attention_mask=mask)
        for index in (1, 2):
            attention_mask, is_causal = received[index]
            assert is_causal is False
            if mask is None:
                assert attention_mask is None
            else:
                assert attention_mask.shape == (2, 1, 1, LENGTH) and attention_mask.dtype == torch.bool
                assert torch.equal(attention_mask[:, 0, 0], padded.bool())
        for index in (0, 3):
            assert received[index][1] is None
            if plain[index][0] is None:
                assert received[index][0] is None
            else:
                assert torch.equal(received[index][0], plain[index][0])


# --- padding never changes a sequence's outputs -------------------------------------------------


def assert_padding_invariant(model, side: str) -> None:
    lengths = [LENGTH, 6, 8]
    ids = random_ids(len(lengths), LENGTH, seed=3)  # padding positions hold random tokens, not a pad id
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        if side == "right":
            mask[row, :length] = 1
        else:
            mask[row, LENGTH - length :] = 1
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    batched = logits(model, input_ids=ids, attention_mask=mask, position_ids=position_ids)
    for row in range(len(lengths)):
        real = mask[row].bool()
        alone = logits(model, input_ids=ids[row, real][None])
        torch.testing.assert_close(batched[row, real], alone[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("family", "impl"), MODELS)
@pytest.mark.parametrize("unmasked", [[1, 3], [0, 1, 2, 3], []], ids=["mixed", "all", "none"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_leaves_real_tokens_unchanged(family, impl, unmasked, side):
    model = tiny_model(family, impl)
    set_unmasked_layers(model, unmasked)
    assert_padding_invariant(model, side)


# --- no unmasked layer is the plain model ----------------------------------------------------


@pytest.mark.parametrize(("family", "impl"), MODELS)
def test_no_unmasked_layer_and_restoring_give_the_plain_model(family, impl):
    model = tiny_model(family, impl)
    ids = random_ids(2, LENGTH)
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    hooks = [len(module._forward_pre_hooks) + len(module._forward_hooks) for module in model.modules()]
    plain = logits(model, **inputs)

    set_unmasked_layers(model, [])
    assert unmasked_layers(model) == frozenset()
    assert torch.equal(logits(model, **inputs), plain)

    set_unmasked_layers(model, [0, 2])
    assert not torch.allclose(logits(model, **inputs), plain)
    set_unmasked_layers(model, [3])  # replaces, does not add
    assert unmasked_layers(model) == frozenset({3})

    set_unmasked_layers(model, [])
    assert unmasked_layers(model) == frozenset()
    assert torch.equal(logits(model, **inputs), plain)
    assert [len(module._forward_pre_hooks) + len(module._forward_hooks) for module in model.modules()] == hooks


# --- wrappers: peft, task heads, gradient checkpointing -----------------------------------------


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")  # from peft
@pytest.mark.parametrize("family", CONFIGS)
def test_works_through_peft_lora(family):
    from peft import LoraConfig, get_peft_model

    model = tiny_model(family, "sdpa", head=AutoModelForTokenClassification, num_labels=5)
    peft_model = get_peft_model(model, LoraConfig(task_type="TOKEN_CLS", r=4, target_modules=["q_proj", "v_proj"]))
    set_unmasked_layers(peft_model, [2, 3])
    assert unmasked_layers(peft_model) == frozenset({2, 3})
    assert unmasked_layers(model) == frozenset({2, 3})  # the same layers, seen from inside
    assert_sees_future_exactly_from(peft_model, {2, 3}, attention_mask=True)
    assert_padding_invariant(peft_model, "right")
    assert_padding_invariant(peft_model, "left")
    set_unmasked_layers(peft_model, [])
    assert_sees_future_exactly_from(peft_model, set(), attention_mask=True)


def test_base_model_itself_can_be_controlled():
    model = tiny_model("llama", "sdpa")
    set_unmasked_layers(model.model, [2])
    assert unmasked_layers(model) == frozenset({2})
    assert_sees_future_exactly_from(model, {2}, attention_mask=False)


def test_a_deep_copy_keeps_its_own_control():
    model = tiny_model("llama", "sdpa")
    set_unmasked_layers(model, [2])
    copy = deepcopy(model)
    assert unmasked_layers(copy) == frozenset({2})
    assert_sees_future_exactly_from(copy, {2}, attention_mask=False)
    set_unmasked_layers(copy, [])
    assert unmasked_layers(model) == frozenset({2})
    assert_sees_future_exactly_from(model, {2}, attention_mask=False)
    assert_sees_future_exactly_from(copy, set(), attention_mask=False)


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_gradient_checkpointing_gives_the_same_gradients(use_reentrant):
    ids = random_ids(2, LENGTH)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    gradients = []
    for checkpointing in (False, True):
        model = tiny_model("llama", "sdpa")
        set_unmasked_layers(model, [1, 2])
        model.train()
        if checkpointing:
            model.activation_checkpointing_enable({"use_reentrant": use_reentrant})
        model(input_ids=ids, attention_mask=mask, use_cache=False).logits[mask.bool()].square().sum().backward()
        gradients.append([parameter.grad.clone() for parameter in model.parameters()])
    for plain, checkpointed in zip(*gradients, strict=True):
        torch.testing.assert_close(checkpointed, plain)


# --- what cannot be controlled fails loudly ----------------------------------------------------


def test_unsupported_family_raises():
    model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=128, n_positions=32))
    with pytest.raises(AttentionControlError, match=r"'gpt2' \(GPT2Model\).*supported families: llama, mistral, qwen2"):
        set_unmasked_layers(model, [0])
    assert issubclass(AttentionControlError, ValueError)


def test_out_of_range_layer_raises_before_hooking():
    model = tiny_model("llama", "sdpa")
    with pytest.raises(ValueError, match=r"attention\.layers"):
        set_unmasked_layers(model, [1, NUM_LAYERS])
    assert unmasked_layers(model) == frozenset()


def test_masks_it_cannot_read_raise():
    model = tiny_model("llama", "eager")
    set_unmasked_layers(model, [1])
    ids = random_ids(1, LENGTH)
    dense = torch.zeros(1, 1, LENGTH, LENGTH)
    with pytest.raises(AttentionControlError, match="2D"):
        model(input_ids=ids, attention_mask=dense)
    packed = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 0, 1, 2]])
    with pytest.raises(AttentionControlError, match="packed"):
        model(input_ids=ids, position_ids=packed)
    # a failed forward leaves no stale state behind
    assert_sees_future_exactly_from(model, {1}, attention_mask=True)


def test_other_attention_implementations_raise():
    with pytest.raises(AttentionControlError, match=r"attn_implementation in \('sdpa', 'eager', 'ntk_prefix'\).*'flex_attention'"):
        set_unmasked_layers(tiny_model("llama", "flex_attention"), [1])
    model = tiny_model("llama", "sdpa")
    set_unmasked_layers(model, [1])
    model.set_attn_implementation("flex_attention")
    with pytest.raises(AttentionControlError, match="flex_attention"):
        model(input_ids=random_ids(1, LENGTH))


@pytest.mark.parametrize("family", CONFIGS)
def test_decoding_with_a_filled_cache_raises(family):
    """Cached keys of earlier tokens never saw later ones, so incremental decoding cannot be
    bidirectional; the prefill (empty cache) still runs."""
    model = tiny_model(family, "sdpa")
    set_unmasked_layers(model, [1])
    ids = random_ids(2, 6)
    with pytest.raises(AttentionControlError, match="KV cache"):
        model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=2, do_sample=False)
    with torch.no_grad():
        assert model(input_ids=ids, use_cache=True).logits.shape == (2, 6, 128)
