"""NTK-attention: an infinitely long trainable prefix in constant cost (Liang et al. 2024, "Toward
Infinite-Long Prefix in Transformer", arXiv 2406.14036).

A prefix of m keys k_p and values v_p, scored by the kernel phi(q) . phi(k_p) with
phi(x) = ELU(x / d^(1/4)) + 1, enters attention only through Z = sum_p phi(k_p) v_p^T (d x d)
and k = sum_p phi(k_p) (d): for query i, with s_ij = q_i . k_j / sqrt(d) over the keys the mask
allows and a shift c_i,

    out_i = [ sum_j exp(s_ij - c_i) v_j + phi(q_i)^T Z exp(-c_i) ]
          / [ sum_j exp(s_ij - c_i)     + phi(q_i)^T |k| exp(-c_i) ]

so Z and k are trained directly: d^2 + d parameters per KV head, whatever m is. |k| is the
elementwise absolute value as the paper writes it (it keeps the denominator positive); its
gradient at exactly 0 is taken as +1 (the right derivative; PyTorch's abs gives 0 there, which
would leave a zero-initialised k at zero for ever). With Z = 0 and k = 0 the layer is the base
model's softmax attention.

Grouped-query attention: one Z and one k per KEY-VALUE head, shared by the query heads of its
group, as the keys and values of a real prefix would be (a prefix-tuned GQA model caches
num_key_value_heads keys per layer); each query head applies its own phi(q). Per layer:
num_key_value_heads x (d^2 + d) parameters (SmolLM2-135M: 3 x (64^2 + 64) = 12,480; 374,400 in
its 30 layers).

Written by hand: no library has NTK-attention, and the paper's reference code (ChatGLM and ViT
only) replaces the attention class, ignores the attention mask (no padding, no sliding window)
and takes the row maximum over masked keys too. Here the attention function is registered with
transformers' `AttentionInterface` under ``ntk_prefix`` and set with ``set_attn_implementation``;
transformers' modeling code is not edited or copied. Z and k live on each attention module
(``self_attn.ntk_prefix.z`` / ``.k``), which the function receives as its first argument, so
their names go through a method's trainable filter and the checkpoints like any other.

Masks: a mask function is registered under the same name (SDPA's boolean mask, never skipped),
so transformers builds the model's own mask for every forward: causal, padding on either side,
Mistral's ``sliding_window`` and Qwen2's sliding layers. The function also takes an additive
float mask or None (with ``is_causal`` as SDPA reads it). Decoding with a KV cache works: every
decoding step's queries pass through the function and get the prefix term.

Numerics: everything in float32 with autocast off. c_i is the row maximum m_i of the real
scores, raised to log(phi(q_i)^T |k|) when the prefix outweighs every real key (exact arithmetic
does not depend on c_i; this keeps the denominator >= 1 and exp(-c_i) finite; exp(-c_i) is
clamped to the largest float for rows whose every score is below about -88 with no prefix weight,
so that a zero prefix still adds exactly 0). A query that may see no key and has no prefix weight
gets 0 instead of 0/0.

The attention axis's unmasked layers (`harness.models.attention`) hand this function their
padding-only mask in SDPA's boolean form, so the prefix combines with them: an unmasked layer's
queries see every real key and the prefix. Limit: attention weights are not returned.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AttentionInterface, PreTrainedModel
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from harness.models.attention import AttentionControlError, decoder_layers

ATTENTION_NAME = "ntk_prefix"
"""The attention implementation's name in transformers' registries (and on the model's config)."""
PATCH_NAME = "ntk_prefix"
"""The attribute of each ``self_attn`` that holds its Z and k."""
INITS = ("zeros", "normal")
_PREVIOUS_ATTRIBUTE = "_harness_ntk_previous_attention"


def phi(x: torch.Tensor) -> torch.Tensor:
    """The paper's feature map: ELU(x / d^(1/4)) + 1, positive, d = x.shape[-1]."""
    return F.elu(x * x.shape[-1] ** -0.25) + 1.0


class InfinitePrefix(nn.Module):
    """One layer's prefix: Z (``z``, H_kv x d x d) and k (``k``, H_kv x d), one per KV head."""

    def __init__(self, num_kv_heads: int, head_dim: int, init: str = "zeros", init_std: float = 0.0) -> None:
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {list(INITS)}, got {init!r}")
        self.z = nn.Parameter(torch.zeros(num_kv_heads, head_dim, head_dim))
        self.k = nn.Parameter(torch.zeros(num_kv_heads, head_dim))
        if init == "normal":
            nn.init.normal_(self.z, 0.0, init_std)
            nn.init.normal_(self.k, 0.0, init_std)

    def extra_repr(self) -> str:
        heads, dim = self.k.shape
        return f"kv_heads={heads}, head_dim={dim}"

    def k_magnitude(self) -> torch.Tensor:
        """|k|, with gradient +1 at k = 0 (see the module docstring)."""
        return torch.where(self.k >= 0, self.k, -self.k)


# --- the attention function and its mask --------------------------------------------------------


def ntk_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature: query (B, H, Tq, d), key/value (B, H_kv, Tk, d)
    -> (output (B, Tq, H, d), None)."""
    prefix = getattr(module, PATCH_NAME, None)
    if not isinstance(prefix, InfinitePrefix):
        raise RuntimeError(
            f"attention implementation {ATTENTION_NAME!r} on a layer without NTK parameters "
            f"(self_attn.{PATCH_NAME}); install it with harness.models.ntk_attention.install"
        )
    if kwargs.get("softcap") is not None:
        raise ValueError(f"attention implementation {ATTENTION_NAME!r} does not support softcap")
    batch, heads, q_len, dim = query.shape
    kv_heads, k_len = key.shape[1], key.shape[2]
    group = heads // kv_heads
    scale = dim**-0.5 if scaling is None else scaling
    with torch.autocast(device_type=query.device.type, enabled=False):
        # query heads kv*group .. kv*group + group - 1 share KV head kv (transformers' repeat_kv order)
        q = query.float().reshape(batch, kv_heads, group * q_len, dim)  # (B, H_kv, G*Tq, d)
        k, v = key.float(), value.float()  # (B, H_kv, Tk, d)
        scores = torch.matmul(q * scale, k.transpose(-1, -2))  # (B, H_kv, G*Tq, Tk)
        _mask_scores(scores, attention_mask, is_causal, module, heads, group, q_len)

        phi_q = phi(q)
        prefix_num = torch.matmul(phi_q, prefix.z.float())  # (B, H_kv, G*Tq, d)
        prefix_den = torch.matmul(phi_q, prefix.k_magnitude().float()[..., None])  # (B, H_kv, G*Tq, 1)

        with torch.no_grad():  # the output does not depend on the shift: no gradient through it
            shift = scores.amax(dim=-1, keepdim=True)  # (B, H_kv, G*Tq, 1); -inf where no key is allowed
            shift = torch.maximum(shift, prefix_den.log())
            shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
        weights = scores.sub_(shift).exp_()  # masked keys: exp(-inf) = 0
        decay = torch.exp(-shift).clamp_(max=torch.finfo(torch.float32).max)  # finite: 0 x decay stays 0
        denominator = weights.sum(dim=-1, keepdim=True) + prefix_den * decay
        denominator = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
        if dropout > 0.0:
            weights = F.dropout(weights, p=dropout, training=True)  # dropout(p) / den = dropout(p / den)
        out = (torch.matmul(weights, v) + prefix_num * decay) / denominator  # (B, H_kv, G*Tq, d)
    out = out.view(batch, heads, q_len, dim).transpose(1, 2).contiguous()  # (B, Tq, H, d)
    return out.to(query.dtype), None


def _mask_scores(
    scores: torch.Tensor,
    mask: torch.Tensor | None,
    is_causal: bool | None,
    module: nn.Module,
    heads: int,
    group: int,
    q_len: int,
) -> None:
    """Set disallowed scores (B, H_kv, G*Tq, Tk) to -inf in place (and add an additive mask's finite
    values). ``mask``: (B, 1 or H, Tq or 1, Tk), boolean (True = attend) or additive; None: causal
    as SDPA's ``is_causal`` (top-left aligned) when the module is causal and Tq > 1, else every key."""
    k_len = scores.shape[-1]
    if mask is None:
        causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
        if not (causal and q_len > 1):
            return
        mask = torch.ones(1, 1, q_len, k_len, dtype=torch.bool, device=scores.device).tril()
    mask = mask[..., :k_len]
    mask = mask.expand(mask.shape[0], mask.shape[1], q_len, k_len)
    if mask.shape[1] == heads:  # one mask per query head
        mask = mask.reshape(mask.shape[0], heads // group, group * q_len, k_len)
    else:  # one mask for every head, repeated for the G query heads of a KV head
        mask = mask.repeat(1, 1, group, 1)  # (B, 1, G*Tq, Tk)
    if mask.dtype == torch.bool:
        blocked = mask.logical_not()
    else:  # additive: 0 (or a bias) where allowed, the dtype's minimum or -inf where not
        blocked = mask <= torch.finfo(mask.dtype).min / 2
        scores.add_(mask.float().masked_fill(blocked, 0.0))
    scores.masked_fill_(blocked, float("-inf"))


def ntk_mask(*args, **kwargs) -> torch.Tensor | None:
    """SDPA's boolean mask (True = attend), never skipped in favour of ``is_causal``: the attention
    function always sees the model's exact mask (causal, padding, sliding window)."""
    kwargs["allow_is_causal_skip"] = False
    return sdpa_mask(*args, **kwargs)


def register() -> None:
    """Make ``ntk_prefix`` a transformers attention implementation (idempotent)."""
    AttentionInterface.register(ATTENTION_NAME, ntk_attention_forward)
    AttentionMaskInterface.register(ATTENTION_NAME, ntk_mask)


register()


# --- installing it in a model --------------------------------------------------------------------


def _pretrained(model: nn.Module) -> PreTrainedModel:
    if not isinstance(model, PreTrainedModel):
        raise AttentionControlError(
            f"NTK-attention is installed on a transformers model (a *Model or *ForCausalLM), got {type(model).__name__}"
        )
    return model


def install(model: nn.Module, init: str = "zeros", init_std: float = 0.0) -> None:
    """Give every decoder layer a prefix (Z, k) and switch the model to NTK-attention, replacing
    any earlier install. ``model``: a Llama, Mistral or Qwen2 base model or its task/LM wrapper."""
    top = _pretrained(model)
    remove(model)
    for layer in decoder_layers(model):
        attention = layer.self_attn
        kv_heads = attention.config.num_key_value_heads
        device = attention.q_proj.weight.device
        attention.add_module(PATCH_NAME, InfinitePrefix(kv_heads, attention.head_dim, init, init_std).to(device))
    setattr(top, _PREVIOUS_ATTRIBUTE, top.config._attn_implementation)
    top.set_attn_implementation(ATTENTION_NAME)


def remove(model: nn.Module) -> None:
    """Take NTK-attention out: the attention implementation before `install`, no prefix."""
    top = _pretrained(model)
    previous = getattr(top, _PREVIOUS_ATTRIBUTE, None)
    for layer in decoder_layers(model):
        if hasattr(layer.self_attn, PATCH_NAME):
            delattr(layer.self_attn, PATCH_NAME)
    if previous is not None:
        top.set_attn_implementation(previous)
        delattr(top, _PREVIOUS_ATTRIBUTE)


def prefixes(model: nn.Module) -> dict[int, InfinitePrefix]:
    """Layer index -> its prefix, for the layers that have one."""
    return {
        number: layer.self_attn.get_submodule(PATCH_NAME)
        for number, layer in enumerate(decoder_layers(model))
        if hasattr(layer.self_attn, PATCH_NAME)
    }
