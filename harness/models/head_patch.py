"""Per-head scalings and offsets on attention outputs (LoFiT, Yin et al. 2024): for head j of a
layer, its output h (before the output projection) becomes (1 + A_j) * h + v_j, A_j and v_j in R^d.

Written by hand: no kept library has it (peft has no LoFiT; the reference code edits a copy of
transformers' Llama attention, which this project never does). It is a forward pre-hook on each
layer's ``self_attn.o_proj``, whose input is the heads' outputs concatenated (B, T, H * d); the
hook splits the heads out, applies the patch and hands the projection the result, so it works for
every family whose attention ends in ``o_proj`` (Llama, Mistral, Qwen2, grouped-query attention
included: the heads here are query heads) and with any attention mask or implementation.

The parameters live in a small module attached to the attention block (``self_attn.lofit``), so
their names (``…layers.3.self_attn.lofit.offset``) go through the method's trainable filter and
the formulation's checkpoints like any other. Offsets are stored for the chosen heads only (one
row per head, a buffer says which): a head that is not chosen has no parameter at all, so it
cannot move and the trainable count is exactly K x d.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.attention import decoder_layers

PATCH_NAME = "lofit"


class HeadPatch(nn.Module):
    """One layer's patch: scalings A for every head (``scale``, H x d) and/or offsets v for some
    heads (``offset``, one row per index in ``offset_heads``). Either part may be absent."""

    def __init__(self, num_heads: int, head_dim: int, scale: bool, offset_heads: list[int], init_std: float) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, head_dim
        self.scale = nn.Parameter(torch.empty(num_heads, head_dim).normal_(0.0, init_std)) if scale else None
        self.register_buffer("offset_heads", torch.tensor(sorted(offset_heads), dtype=torch.long), persistent=False)
        self.offset = (
            nn.Parameter(torch.empty(len(offset_heads), head_dim).normal_(0.0, init_std)) if offset_heads else None
        )
        self.handle = None

    def extra_repr(self) -> str:
        return f"heads={self.num_heads}, head_dim={self.head_dim}, scale={self.scale is not None}, offset_heads={self.offset_heads.tolist()}"

    def patch(self, heads: torch.Tensor) -> torch.Tensor:
        """heads: (..., H * d) concatenated head outputs -> the same shape, patched."""
        shape = heads.shape
        split = heads.view(*shape[:-1], self.num_heads, self.head_dim)
        if self.scale is not None:
            split = split * (1.0 + self.scale)
        if self.offset is not None:
            full = self.offset.new_zeros(self.num_heads, self.head_dim).index_copy(0, self.offset_heads, self.offset)
            split = split + full
        return split.reshape(shape).to(heads.dtype)

    def _pre_hook(self, module: nn.Module, args: tuple):
        return (self.patch(args[0]), *args[1:])


def install(model: nn.Module, num_heads: int, head_dim: int, scale: bool, offsets: dict[int, list[int]], init_std: float) -> None:
    """Patch every layer that has something to patch (all layers when ``scale``; otherwise the layers
    with offset heads), replacing any earlier patch. ``offsets``: layer -> head indices."""
    remove(model)
    for number, layer in enumerate(decoder_layers(model)):
        heads = offsets.get(number, [])
        if not scale and not heads:
            continue
        attention = layer.self_attn
        device = attention.o_proj.weight.device
        patch = HeadPatch(num_heads, head_dim, scale, heads, init_std).to(device)
        patch.handle = attention.o_proj.register_forward_pre_hook(patch._pre_hook)
        attention.add_module(PATCH_NAME, patch)


def remove(model: nn.Module) -> None:
    """Take every LoFiT patch out: the model computes as before it was installed."""
    for layer in decoder_layers(model):
        patch = getattr(layer.self_attn, PATCH_NAME, None)
        if patch is not None:
            patch.handle.remove()
            delattr(layer.self_attn, PATCH_NAME)


def patches(model: nn.Module) -> dict[int, HeadPatch]:
    """Layer index -> its patch, for the layers that have one."""
    found = {}
    for number, layer in enumerate(decoder_layers(model)):
        patch = getattr(layer.self_attn, PATCH_NAME, None)
        if patch is not None:
            found[number] = patch
    return found


def scale_norms(model: nn.Module) -> list[list[float]]:
    """||A_j||_2 for every layer and head (the head-selection score), layer-major."""
    found = patches(model)
    layers = decoder_layers(model)
    if len(found) != len(layers) or any(p.scale is None for p in found.values()):
        raise RuntimeError("LoFiT head scores need the scalings A on every layer (the head-selection stage)")
    return [found[number].scale.detach().float().norm(dim=-1).tolist() for number in range(len(layers))]
