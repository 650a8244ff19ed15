"""NTK-attention (harness/methods/ntk_prefix.py, harness/models/ntk_attention.py) on tiny random
models of each family: it is attention over a real prefix of keys and values scored by
phi(q) . phi(k_p), it respects the model's masks, and only Z and k train."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from transformers import AttentionInterface, AutoConfig, AutoModel, AutoModelForCausalLM, DynamicCache

from harness.formulations.lifecycle import position_ids_from_mask
from harness.methods.ntk_prefix import NTKPrefix, parameter_count
from harness.methods.trainable import count_parameters
from harness.models import ntk_attention
from harness.models.attention import set_unmasked_layers
from harness.models.attention_spec import AttentionSpec
from harness.models.info import ModelInfo
from tests.tiny_models import FAMILIES, context, model_spec, tiny_backbone

REFERENCE = "ntk_test_reference"
MHA = ("tiny_llama", {"num_key_value_heads": 4})  # one KV head per query head
VARIANTS = [(family, {}) for family in FAMILIES] + [MHA]
VARIANT_IDS = [*FAMILIES, "tiny_llama_mha"]


def _config(family: str, **overrides):
    values = dict(model_spec(family).config)
    values.update(overrides)
    return AutoConfig.for_model(values.pop("model_type"), **values)


def _model(family: str, lm_head: bool = False, **overrides):
    torch.manual_seed(0)
    loader = AutoModelForCausalLM if lm_head else AutoModel
    return loader.from_config(_config(family, **overrides), attn_implementation="sdpa").eval()


def _phi(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x / x.shape[-1] ** 0.25) + 1


def _batch(lengths: list[int], side: str, seed: int = 1) -> dict:
    """Random ids, each row `lengths[i]` real tokens padded to the longest on `side`."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(0, 1000, (len(lengths), width), generator=generator)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        if side == "left":
            mask[row, width - length :] = 1
        else:
            mask[row, :length] = 1
    return {"input_ids": ids, "attention_mask": mask, "position_ids": position_ids_from_mask(mask)}


def _hidden(model, batch: dict) -> torch.Tensor:
    with torch.no_grad():
        return model(**batch).last_hidden_state


# --- the reference: attention over an explicit prefix, written plainly ---------------------------


class _ExplicitPrefix:
    """Prefix keys and values per layer, (H_kv, m, d) each; a plain attention function that attends
    to them (scored by phi(q) . phi(k_p)) and to the real keys, building its own mask from the
    padding, causality and the config's sliding window; and the Z, k they stand for."""

    def __init__(self, config, length: int = 4) -> None:
        generator = torch.Generator().manual_seed(7)
        head_dim = config.hidden_size // config.num_attention_heads
        shape = (config.num_hidden_layers, config.num_key_value_heads, length, head_dim)
        # keys below zero keep phi(q) . phi(k_p) comparable to the real keys' weights
        self.keys = torch.randn(shape, generator=generator) - 2.0
        self.values = torch.randn(shape, generator=generator)
        self.config = config
        self.padding: torch.Tensor | None = None  # (B, T), set per forward

    def z_and_k(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        phi_keys = _phi(self.keys[layer])  # (H_kv, m, d)
        return phi_keys.transpose(-1, -2) @ self.values[layer], phi_keys.sum(dim=1)

    def window(self, layer: int) -> int | None:
        types = getattr(self.config, "layer_types", None)
        if types is not None and types[layer] != "sliding_attention":
            return None
        return getattr(self.config, "sliding_window", None)

    def attention(self, module, query, key, value, attention_mask, scaling=None, **kwargs):
        layer = module.layer_idx
        batch, heads, length, dim = query.shape
        group = heads // key.shape[1]
        window = self.window(layer)
        out = torch.zeros(batch, length, heads, dim, dtype=torch.float64)
        for b in range(batch):
            for i in range(length):
                if not self.padding[b, i]:
                    continue
                keys = [j for j in range(i + 1) if self.padding[b, j] and (window is None or j > i - window)]
                for h in range(heads):
                    kv = h // group
                    q = query[b, h, i].double()
                    scores = torch.stack([q @ key[b, kv, j].double() * scaling for j in keys])
                    m = scores.max()
                    real = torch.exp(scores - m)
                    prefix = torch.stack(
                        [_phi(q) @ _phi(self.keys[layer, kv, p].double()) for p in range(self.keys.shape[2])]
                    ) * torch.exp(-m)
                    numerator = sum(w * value[b, kv, j].double() for w, j in zip(real, keys))
                    numerator = numerator + sum(w * self.values[layer, kv, p].double() for p, w in enumerate(prefix))
                    out[b, i, h] = numerator / (real.sum() + prefix.sum())
        return out.to(query.dtype), None


@pytest.mark.parametrize("side", ["none", "left", "right"])
@pytest.mark.parametrize("family, overrides", VARIANTS, ids=VARIANT_IDS)
def test_equals_attention_over_the_explicit_prefix_it_stands_for(family, overrides, side):
    """Z = sum_p phi(k_p) v_p^T and k = sum_p phi(k_p) from random prefix keys and values: the
    patched model equals the same model whose attention attends to that prefix plainly. 20
    tokens cross Mistral's 16-token window; grouped-query heads share their KV head's prefix."""
    base = _model(family, **overrides)
    prefix = _ExplicitPrefix(base.config)
    batch = _batch([20, 20] if side == "none" else [20, 13], "left" if side == "none" else side)

    patched = copy.deepcopy(base)
    ntk_attention.install(patched)
    for layer, module in ntk_attention.prefixes(patched).items():
        z, k = prefix.z_and_k(layer)
        with torch.no_grad():
            module.z.copy_(z)
            module.k.copy_(k)
    reference = copy.deepcopy(base)
    AttentionInterface.register(REFERENCE, prefix.attention)  # no mask function: it gets None
    reference.set_attn_implementation(REFERENCE)
    prefix.padding = batch["attention_mask"].bool()

    real = batch["attention_mask"].bool()
    expected, got = _hidden(reference, batch)[real], _hidden(patched, batch)[real]
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert (got - _hidden(base, batch)[real]).abs().max() > 1e-2, "the prefix changed nothing: the test is vacuous"


@pytest.mark.parametrize("family", FAMILIES)
def test_zero_prefix_is_the_base_model(family):
    base, info = tiny_backbone(family)
    method = NTKPrefix()
    assert method.identity_at_init and not NTKPrefix(init="normal").identity_at_init
    adapted = method.apply(copy.deepcopy(base), context(info))
    assert adapted.config._attn_implementation == ntk_attention.ATTENTION_NAME
    batch = _batch([20, 11], "left")
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(_hidden(adapted, batch)[real], _hidden(base, batch)[real], rtol=0, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_gradients_reach_z_and_k_only(family):
    """From the default zero initialisation, one step moves every Z and every k (|k| has the right
    derivative at 0) and leaves every other parameter bit-identical."""
    base, info = tiny_backbone(family)
    method = NTKPrefix()
    adapted = method.apply(base, context(info)).train()
    named = dict(adapted.named_parameters())
    trainable = {n for n, p in named.items() if p.requires_grad}
    assert trainable == {n for n in named if n.endswith(("ntk_prefix.z", "ntk_prefix.k"))}
    assert len(trainable) == 2 * info.num_layers
    assert count_parameters(adapted)[0] == parameter_count(info) == 4 * 2 * (16 * 16 + 16)
    before = {n: p.detach().clone() for n, p in named.items()}
    head = torch.nn.Linear(info.hidden_size, 3)
    optimizer = torch.optim.AdamW([named[n] for n in trainable], lr=1e-2)
    batch = _batch([12, 8], "right")
    head(adapted(**batch).last_hidden_state).logsumexp(-1).mean().backward()
    optimizer.step()
    for name, parameter in named.items():
        if name in trainable:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, f"no gradient reached {name}"
            assert not torch.equal(parameter.detach(), before[name]), f"{name} did not move"
        else:
            assert parameter.grad is None and torch.equal(parameter.detach(), before[name]), name


def test_k_magnitude_is_abs_with_the_right_derivative_at_zero():
    prefix = ntk_attention.InfinitePrefix(1, 3)
    with torch.no_grad():
        prefix.k.copy_(torch.tensor([[-2.0, 0.0, 3.0]]))
    magnitude = prefix.k_magnitude()
    assert torch.equal(magnitude, torch.tensor([[2.0, 0.0, 3.0]]))
    magnitude.sum().backward()
    assert torch.equal(prefix.k.grad, torch.tensor([[-1.0, 1.0, 1.0]]))


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("family", FAMILIES)
def test_padding_on_either_side_leaves_real_tokens_unchanged(family, side):
    base, info = tiny_backbone(family)
    adapted = NTKPrefix(init="normal", init_std=0.1).apply(base, context(info))
    alone = _batch([9], side, seed=3)
    batched = _batch([9, 18], side, seed=3)
    batched["input_ids"][1] = torch.randint(0, 1000, (18,), generator=torch.Generator().manual_seed(4))
    row = batched["attention_mask"][0].bool()
    shift = 18 - 9 if side == "left" else 0
    batched["input_ids"][0, shift : shift + 9] = alone["input_ids"][0]
    got = _hidden(adapted, batched)[0][row]
    torch.testing.assert_close(got, _hidden(adapted, alone)[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "family, overrides",
    [
        ("tiny_mistral", {"sliding_window": 4}),
        ("tiny_qwen2", {"use_sliding_window": True, "sliding_window": 4, "max_window_layers": 0}),  # every layer sliding
    ],
    ids=["mistral", "qwen2_sliding"],
)
def test_sliding_window_hides_tokens_beyond_it(family, overrides):
    """Window 4 in each of 4 layers: token 0 reaches at most position 4 x 3 = 12, so changing it
    leaves positions 13.. unchanged; without the window it changes them."""
    ids = torch.randint(0, 1000, (1, 16), generator=torch.Generator().manual_seed(5))
    changed = ids.clone()
    changed[0, 0] = (ids[0, 0] + 1) % 1000
    for window, reaches_the_end in ((overrides, False), ({**overrides, "sliding_window": None}, True)):
        model = _model(family, **window)
        ntk_attention.install(model, "normal", 0.1)
        difference = (_hidden(model, {"input_ids": ids}) - _hidden(model, {"input_ids": changed})).abs().amax(-1)[0]
        assert difference[:4].min() > 1e-4
        assert (difference[13:].max() > 1e-4) == reaches_the_end, difference


@pytest.mark.parametrize("family", FAMILIES)
def test_decoding_with_a_kv_cache_adds_the_prefix_at_every_step(family):
    """Prefill then one token at a time with the cache (left padding, as the generation
    formulation decodes) gives the full forward's logits; greedy `generate` matches a loop of
    full forwards; and the prefix changes the decoding steps' logits."""
    base = _model(family, lm_head=True)
    model = copy.deepcopy(base)
    ntk_attention.install(model, "normal", 0.1)
    batch = _batch([10, 7], "left", seed=6)
    ids, mask, positions = batch["input_ids"], batch["attention_mask"], batch["position_ids"]
    cache = DynamicCache()

    def part(start: int, end: int) -> torch.Tensor:  # tokens start..end-1, the cache holding those before
        inputs = {"input_ids": ids[:, start:end], "position_ids": positions[:, start:end]}
        return model(**inputs, attention_mask=mask[:, :end], cache=cache, use_cache=True).logits

    with torch.no_grad():
        full = model(**batch).logits
        steps = [part(0, 6)] + [part(t, t + 1) for t in range(6, 10)]
        plain = base(**batch).logits
    real = mask.bool()
    torch.testing.assert_close(torch.cat(steps, dim=1)[real], full[real], rtol=1e-4, atol=1e-4)
    assert (full[:, 6:] - plain[:, 6:]).abs().max() > 1e-2

    with torch.no_grad():
        generated = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=3, do_sample=False, use_cache=True, pad_token_id=0
        )
        greedy, greedy_mask = ids, mask
        for _ in range(3):
            positions = position_ids_from_mask(greedy_mask)
            logits = model(input_ids=greedy, attention_mask=greedy_mask, position_ids=positions).logits
            greedy = torch.cat([greedy, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
            greedy_mask = torch.cat([greedy_mask, torch.ones_like(greedy_mask[:, :1])], dim=1)
    assert torch.equal(generated, greedy)


class _Attention(torch.nn.Module):
    is_causal = True


def _function_inputs(seed: int = 0, scale: float = 1.0):
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(2, 4, 5, 8, generator=generator) * scale
    key = torch.randn(2, 2, 5, 8, generator=generator) * scale
    value = torch.randn(2, 2, 5, 8, generator=generator)
    key[0, 0, 0] = -query[0, 0, 0]  # query 0 of head 0 sees one key, scored -|q|^2 / sqrt(d)
    module = _Attention()
    module.ntk_prefix = ntk_attention.InfinitePrefix(2, 8, "normal", 0.5)
    return module, query, key, value


def _exact(module, query, key, value, allowed: torch.Tensor) -> torch.Tensor:
    """The formula in float64, every term unshifted in log space: (B, T, H, d)."""
    group = query.shape[1] // key.shape[1]
    q, k, v = query.double(), key.double().repeat_interleave(group, 1), value.double().repeat_interleave(group, 1)
    z = module.ntk_prefix.z.double().repeat_interleave(group, 0)
    k_abs = module.ntk_prefix.k.double().abs().repeat_interleave(group, 0)
    scores = (q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5).masked_fill(~allowed, float("-inf"))
    log_prefix_weight = (_phi(q) @ k_abs[..., None]).log()  # (B, H, T, 1)
    log_den = torch.logsumexp(torch.cat([scores, log_prefix_weight], -1), -1, keepdim=True)
    out = torch.exp(scores - log_den) @ v + (_phi(q) @ z) * torch.exp(-log_den)
    return out.transpose(1, 2)


@pytest.mark.parametrize("scale", [1.0, 30.0], ids=["ordinary", "large_scores"])
def test_attention_function_matches_the_formula_for_every_mask_form(scale):
    """Boolean, additive float, and no mask (is_causal) agree with the float64 formula, also when
    scores reach hundreds (exp(-m) underflow and overflow) and for a row that may see no key; the
    attention axis's padding-only forms (None with is_causal=False, a (B, 1, 1, T) key mask) too."""
    module, query, key, value = _function_inputs(scale=scale)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    boolean = causal.expand(2, 1, 5, 5).clone()
    boolean[1, :, :, :2] = False  # row 1: two left-padding keys; its queries 0 and 1 see nothing
    additive = torch.zeros(boolean.shape).masked_fill_(~boolean, torch.finfo(torch.float32).min)
    expected = _exact(module, query, key, value, boolean)
    for mask in (boolean, additive):
        got, _ = ntk_attention.ntk_attention_forward(module, query, key, value, mask, scaling=8**-0.5)
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-5)
    got, _ = ntk_attention.ntk_attention_forward(module, query, key, value, None, scaling=8**-0.5)
    torch.testing.assert_close(got.double(), _exact(module, query, key, value, causal), rtol=1e-4, atol=1e-5)
    got, _ = ntk_attention.ntk_attention_forward(module, query, key, value, None, scaling=8**-0.5, is_causal=False)
    full = torch.ones(5, 5, dtype=torch.bool)
    torch.testing.assert_close(got.double(), _exact(module, query, key, value, full), rtol=1e-4, atol=1e-5)
    keys_only = torch.ones(2, 1, 1, 5, dtype=torch.bool)  # the attention axis's (B, 1, 1, T) padding-only form
    keys_only[1, ..., :2] = False
    got, _ = ntk_attention.ntk_attention_forward(module, query, key, value, keys_only, scaling=8**-0.5, is_causal=False)
    expected = _exact(module, query, key, value, keys_only.expand(2, 1, 5, 5))
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("scale", [1.0, 30.0], ids=["ordinary", "large_scores"])
def test_zero_prefix_is_softmax_attention_even_when_every_score_is_very_negative(scale):
    """Z = k = 0: exp(-m) overflows for the query whose only key scores about -2500 (large scores),
    yet the output is the softmax attention's (0 x exp(-m) must stay 0). Gradients are finite for
    ordinary scores; there, d out / d k grows as exp(-m), which is the formula's, not rounding."""
    module, query, key, value = _function_inputs(scale=scale)
    with torch.no_grad():
        module.ntk_prefix.z.zero_()
        module.ntk_prefix.k.zero_()
    query.requires_grad_(True)
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool).tril()
    got, _ = ntk_attention.ntk_attention_forward(module, query, key, value, mask, scaling=8**-0.5)
    scores = query.double() @ key.double().repeat_interleave(2, 1).transpose(-1, -2) / 8**0.5
    expected = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1) @ value.double().repeat_interleave(2, 1)
    torch.testing.assert_close(got.double(), expected.transpose(1, 2), rtol=1e-4, atol=1e-5)
    if scale == 1.0:
        got.sum().backward()
        assert torch.isfinite(query.grad).all() and torch.isfinite(module.ntk_prefix.k.grad).all()


def test_a_row_without_keys_or_prefix_weight_is_zero_not_nan():
    module, query, key, value = _function_inputs()
    with torch.no_grad():
        module.ntk_prefix.k.zero_()
    nothing = torch.zeros(2, 1, 5, 5, dtype=torch.bool)
    query.requires_grad_(True)
    got, _ = ntk_attention.ntk_attention_forward(module, query, key, value, nothing, scaling=8**-0.5)
    got.sum().backward()
    assert torch.isfinite(got).all() and torch.isfinite(query.grad).all()


def test_combines_with_unmasked_layers_in_either_order():
    """Unmasked layers hand NTK-attention their padding-only mask: with a zero prefix the model is
    SDPA with the same unmasked layers; with a prefix, unmasking still changes the early tokens
    (they now see later ones), whichever of axis and method was applied first."""
    base, info = tiny_backbone("tiny_llama")
    spec = AttentionSpec(name="layer_groups", unmasked="groups", group_size=1, pattern="0011")
    batch = _batch([7, 5], "left")
    unmasked_sdpa = _hidden(spec.apply(copy.deepcopy(base), info), batch)
    zero = NTKPrefix().apply(spec.apply(copy.deepcopy(base), info), context(info))
    torch.testing.assert_close(_hidden(zero, batch), unmasked_sdpa, rtol=0, atol=1e-5)

    def with_prefix(model):
        torch.manual_seed(3)
        return NTKPrefix(init="normal", init_std=0.5).apply(model, context(info))

    causal = _hidden(with_prefix(copy.deepcopy(base)), batch)
    axis_first = _hidden(with_prefix(spec.apply(copy.deepcopy(base), info)), batch)
    method_first = with_prefix(copy.deepcopy(base))
    set_unmasked_layers(method_first, [2, 3])
    torch.testing.assert_close(_hidden(method_first, batch), axis_first, rtol=0, atol=1e-6)
    real = batch["attention_mask"].bool()
    assert (axis_first - causal)[real].abs().max() > 1e-3


def test_check_and_settings_fail_naming_the_key():
    with pytest.raises(ValueError, match="method.init: 'uniform'"):
        NTKPrefix(init="uniform")
    with pytest.raises(ValueError, match="method.init_std"):
        NTKPrefix(init_std=-1.0)
    encoder = ModelInfo("minilm_l6", "bert", "encoder", 6, 12, 12, 384, 32, 30522)
    with pytest.raises(ValueError, match="method=ntk_prefix: model minilm_l6 .*not supported"):
        NTKPrefix().check(encoder, "sequence_classification")
    _, info = tiny_backbone("tiny_qwen2")
    for formulation in ("token_classification", "sequence_classification", "generation", "multiple_choice"):
        NTKPrefix().check(info, formulation)


def test_parameter_count_of_smollm2():
    """30 layers x 3 KV heads x (64^2 + 64): the same for any prefix length."""
    smollm2 = ModelInfo("smollm2_135m", "llama", "decoder", 30, 9, 3, 576, 64, 49152)
    assert parameter_count(smollm2) == 30 * 3 * (64 * 64 + 64) == 374_400


def test_remove_restores_the_base_model():
    base, info = tiny_backbone("tiny_mistral")
    model = copy.deepcopy(base)
    ntk_attention.install(model, "normal", 0.1)
    ntk_attention.remove(model)
    assert model.config._attn_implementation == "sdpa" and not ntk_attention.prefixes(model)
    assert not any("ntk_prefix" in name for name, _ in model.named_parameters())
    batch = _batch([9, 6], "left")
    torch.testing.assert_close(_hidden(model, batch), _hidden(base, batch), rtol=0, atol=0)
