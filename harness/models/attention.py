"""Per-layer attention control: padding-only (bidirectional) attention in chosen decoder layers.

Dukić & Šnajder (2024), "Looking Right is Sometimes Right: Investigating the Capabilities of
Decoder-only LLMs for Sequence Labeling" (ACL Findings; the "Do Not (Always) Look Right" study),
fine-tune a decoder LM for sequence labeling with the causal mask removed in chosen groups of
decoder layers, chosen by a bit pattern over layer groups. Li et al. (2023), "Label Supervised
LLaMA Finetuning" (LS-LLaMA / LS-unLLaMA), remove it in every layer. Both are presets over one
knob: the set of layers whose self-attention is padding-only, i.e.

    layer l in unmasked:  token i attends to token j  iff  j is a real (non-padding) token
    otherwise:            the model's own mask (causal, plus Mistral's / Qwen2's sliding window)

Written by hand because no library offers per-layer mask control: transformers builds one mask
(or one per layer *type*) in the base model's forward and hands it to every decoder layer, and
peft only adds parameters. We neither edit transformers' sources nor copy its modeling code; two
module hooks swap the mask on the way into the chosen layers:

1. a forward pre-hook on the base model (``LlamaModel``, ``MistralModel``, ``Qwen2Model``) reads
   the 2D padding mask the caller passed, and a forward hook clears it when the forward ends;
2. a forward pre-hook on each chosen decoder layer replaces the ``attention_mask`` keyword with a
   padding-only mask and adds ``is_causal=False``, which the layer forwards through its attention
   module to the attention function (``sdpa_attention_forward`` reads an explicit ``is_causal``
   before the module's ``is_causal`` attribute; eager attention ignores it and uses the mask).

The padding-only mask is never dense: ``None`` when the batch has no padding (so SDPA may use its
flash kernel, non-causal), else a (B, 1, 1, T) key-padding mask that broadcasts over heads and
queries: boolean for SDPA, additive (0 / dtype min) for eager. Padding is never dropped: the
LS-unLLaMA reference code replaces the mask with zeros, so real tokens attend to padding and a
sequence's scores depend on what it is batched with; here they do not.

Limits: only SDPA, eager and NTK-attention (their masks are ours to build; flash and flex attention
take other mask forms and are refused), only one full-sequence forward (a filled KV cache or
packed sequences without a mask are refused: their keys or boundaries are not ours to see), and
the hooks read the padding mask on the host (``mask.all()``), a graph break under torch.compile.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection
from typing import Any

import torch
from torch import nn

SUPPORTED_FAMILIES = ("llama", "mistral", "qwen2")
"""Model families (transformers ``model_type``) whose decoder layers this module controls."""

SUPPORTED_ATTENTION = ("sdpa", "eager", "ntk_prefix")
"""Attention implementations whose mask handling this module relies on. ``ntk_prefix``
(`harness.models.ntk_attention`, registered with transformers' attention interface) takes SDPA's
mask forms, boolean included, so the NTK prefix combines with unmasked layers."""

BOOLEAN_MASKS = ("sdpa", "ntk_prefix")
"""Implementations given a boolean mask (True = attend); the others get an additive one."""

_CONTROL_ATTRIBUTE = "_harness_unmasked_attention"


class AttentionControlError(ValueError):
    """The model (family, attention implementation or inputs) cannot be given unmasked layers."""


# --- configuration: which layers ------------------------------------------------------------


def layers_from_pattern(num_layers: int, group_size: int, pattern: str) -> list[int]:
    """Layers left unmasked by a group pattern (Dukić & Šnajder 2024).

    The layers are cut into consecutive groups of ``group_size`` from the bottom; when
    ``num_layers`` is not a multiple of ``group_size`` the LAST (top) group is shorter, so there
    are ``ceil(num_layers / group_size)`` groups and ``pattern`` has exactly one bit per group.
    The first bit is the lowest group; ``'1'`` unmasks the group. Example: 30 layers in groups of
    8 make groups 0-7, 8-15, 16-23, 24-29, and ``'0011'`` unmasks layers 16-29.
    """
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"the model's num_hidden_layers must be a positive integer, got {num_layers!r}")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"attention.group_size must be an integer >= 1, got {group_size!r}")
    if not isinstance(pattern, str):
        raise ValueError(
            f"attention.pattern must be a string of 0/1 bits, got {pattern!r} ({type(pattern).__name__}); "
            "quote it in YAML (pattern: '0011'), or YAML reads it as a number"
        )
    num_groups = -(-num_layers // group_size)
    bad = sorted(set(pattern) - {"0", "1"})
    if bad:
        raise ValueError(f"attention.pattern may contain only '0' and '1', got {pattern!r} (bad characters: {bad})")
    if len(pattern) != num_groups:
        last = num_layers - (num_groups - 1) * group_size
        raise ValueError(
            f"attention.pattern must have one bit per layer group: {num_layers} layers in groups of "
            f"{group_size} make {num_groups} groups (the last has {last} layers), "
            f"got {pattern!r} ({len(pattern)} bits)"
        )
    return [
        layer
        for group, bit in enumerate(pattern)
        if bit == "1"
        for layer in range(group * group_size, min((group + 1) * group_size, num_layers))
    ]


def validate_layers(num_layers: int, layers: Collection[int]) -> list[int]:
    """The layers as a sorted list without duplicates; raises when one is not in 0..num_layers-1."""
    given = list(layers)
    not_int = [layer for layer in given if isinstance(layer, bool) or not isinstance(layer, int)]
    if not_int:
        raise ValueError(f"attention.layers must hold integer layer indices, got {not_int!r}")
    outside = sorted({layer for layer in given if not 0 <= layer < num_layers})
    if outside:
        raise ValueError(
            f"attention.layers has layer indices {outside} outside the model's "
            f"{num_layers} layers: allowed are 0..{num_layers - 1}"
        )
    return sorted(set(given))


# --- the model: where the layers are ---------------------------------------------------------


def _supported_bodies() -> dict[type[nn.Module], str]:
    from transformers import LlamaModel, MistralModel, Qwen2Model

    return {LlamaModel: "llama", MistralModel: "mistral", Qwen2Model: "qwen2"}


def _body(model: nn.Module) -> nn.Module:
    """The base transformer (e.g. LlamaModel) inside a peft wrapper and/or a task head."""
    from peft import PeftModel
    from peft.tuners.tuners_utils import BaseTuner
    from transformers import PreTrainedModel

    if isinstance(model, PeftModel):
        model = model.get_base_model()
    if isinstance(model, BaseTuner):
        model = model.model
    if isinstance(model, PreTrainedModel):
        model = model.base_model
    if not isinstance(model, tuple(_supported_bodies())):
        family = getattr(getattr(model, "config", None), "model_type", None) or "unknown"
        raise AttentionControlError(
            f"cannot control attention masks per layer in model family {family!r} "
            f"({type(model).__name__}); supported families: {', '.join(SUPPORTED_FAMILIES)}"
        )
    return model


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layers, bottom first, of a supported model, its task wrapper or a peft model."""
    return _body(model).layers


def _check_attention(body: nn.Module) -> str:
    implementation = body.config._attn_implementation
    if implementation not in SUPPORTED_ATTENTION:
        raise AttentionControlError(
            f"unmasked layers need attn_implementation in {SUPPORTED_ATTENTION}, "
            f"but the {body.config.model_type} model uses {implementation!r}"
        )
    return implementation


# --- the hooks -------------------------------------------------------------------------------


class _PaddingOnlyAttention:
    """The hooks of one model: records the padding mask, swaps it into the chosen layers."""

    def __init__(self, body: nn.Module, layers: frozenset[int]):
        self.layers = layers
        self._signature = inspect.signature(body.forward)
        self._forwarding = False
        self._padding: torch.Tensor | None = None  # (B, T) bool, True = real token
        self._masks: dict[tuple, torch.Tensor | None] = {}
        self._handles = [
            body.register_forward_pre_hook(self._record, with_kwargs=True),
            body.register_forward_hook(self._clear, always_call=True),
        ]
        for index in sorted(layers):
            self._handles.append(body.layers[index].register_forward_pre_hook(self._unmask, with_kwargs=True))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _record(self, body: nn.Module, args: tuple, kwargs: dict) -> None:
        _check_attention(body)
        bound = self._signature.bind_partial(*args, **kwargs).arguments
        attention_mask = bound.get("attention_mask")
        if attention_mask is not None and not (isinstance(attention_mask, torch.Tensor) and attention_mask.ndim == 2):
            raise AttentionControlError(
                "unmasked layers need the 2D (batch, length) padding mask or None as attention_mask, "
                f"got {type(attention_mask).__name__}"
                + (f" of shape {tuple(attention_mask.shape)}" if isinstance(attention_mask, torch.Tensor) else "")
            )
        cache = bound.get("cache")
        if cache is None:  # the deprecated name, renamed only inside forward
            cache = bound.get("kwargs", {}).get("past_key_values")
        if cache is not None and cache.get_seq_length() > 0:
            raise AttentionControlError(
                "unmasked layers need the whole sequence in one forward: decoding with a filled KV "
                "cache is not supported (cached keys were computed without the tokens that follow)"
            )
        position_ids = bound.get("position_ids")
        if attention_mask is None and position_ids is not None and position_ids.shape[-1] > 1:
            # transformers reads restarting position ids without a mask as packed sequences and
            # masks across them; a padding-only mask cannot say where one sequence ends.
            if bool((torch.diff(position_ids, dim=-1) != 1).any()):
                raise AttentionControlError(
                    "unmasked layers do not support packed sequences (position_ids that restart "
                    "without an attention_mask); pad the sequences and pass attention_mask"
                )
        self._forwarding = True
        self._padding = None if attention_mask is None else attention_mask.to(torch.bool)
        self._masks.clear()

    def _clear(self, body: nn.Module, args: tuple, output: Any) -> None:
        self._forwarding = False
        self._padding = None
        self._masks.clear()

    def _unmask(self, layer: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if not self._forwarding:
            raise AttentionControlError(
                "a decoder layer with unmasked attention was called outside its model's forward, "
                "so its padding mask is unknown; call the model, not the layer"
            )
        hidden_states = args[0] if args else kwargs["hidden_states"]
        mask = self._mask(layer.self_attn.config._attn_implementation, hidden_states)
        if len(args) > 1:  # attention_mask passed positionally
            args = (args[0], mask, *args[2:])
        else:
            kwargs["attention_mask"] = mask
        kwargs["is_causal"] = False  # read by sdpa_attention_forward when the mask is None
        return args, kwargs

    def _mask(self, implementation: str, hidden_states: torch.Tensor) -> torch.Tensor | None:
        key = (implementation, hidden_states.dtype, hidden_states.device)
        if key not in self._masks:
            self._masks[key] = padding_only_mask(
                self._padding, implementation, hidden_states.dtype, hidden_states.device
            )
        return self._masks[key]


def padding_only_mask(
    padding: torch.Tensor | None, implementation: str, dtype: torch.dtype, device: torch.device
) -> torch.Tensor | None:
    """Mask letting every query see every real key: None without padding, else (B, 1, 1, T).

    ``padding`` is the (B, T) 2D attention mask, true or 1 for real tokens. SDPA takes a boolean
    mask (True = attend); eager adds the mask to the scores, so it gets 0 / the dtype's minimum.
    A row that is all padding attends to everything, so it stays finite (its output is unused).
    """
    if padding is None or bool(padding.all()):
        return None
    keep = padding.to(device=device, dtype=torch.bool)
    keep = keep | ~keep.any(dim=-1, keepdim=True)
    keep = keep[:, None, None, :]  # (B, 1, 1, T)
    if implementation in BOOLEAN_MASKS:
        return keep
    return torch.zeros(keep.shape, dtype=dtype, device=device).masked_fill_(~keep, torch.finfo(dtype).min)


# --- the public switch -----------------------------------------------------------------------


def set_unmasked_layers(model: nn.Module, layers: Collection[int]) -> None:
    """Make ``layers`` padding-only and every other layer use the model's own mask, in place.

    ``model`` is a Llama, Mistral or Qwen2 base model, its *ForCausalLM / *ForTokenClassification
    (or other head) wrapper, or a peft model around either. Replaces any earlier choice; an empty
    collection restores the plain model exactly (no hooks remain).
    """
    body = _body(model)
    chosen = frozenset(validate_layers(len(body.layers), layers))
    previous = getattr(body, _CONTROL_ATTRIBUTE, None)
    if previous is not None:
        previous.remove()
        delattr(body, _CONTROL_ATTRIBUTE)
    if chosen:
        _check_attention(body)
        setattr(body, _CONTROL_ATTRIBUTE, _PaddingOnlyAttention(body, chosen))


def unmasked_layers(model: nn.Module) -> frozenset[int]:
    """The layers whose attention is currently padding-only (empty for a plain model)."""
    control = getattr(_body(model), _CONTROL_ATTRIBUTE, None)
    return frozenset() if control is None else control.layers
