"""Shared by the attention-axis presets (bidir, ls_llama, ls_unllama): an adapter (LoRA or full
fine-tuning) combined with a chosen set of padding-only decoder layers. Plain functions, so the
presets compose them instead of inheriting from each other."""

from __future__ import annotations

from collections.abc import Collection

from torch import nn

from harness.methods.lora import LoRA, apply_lora
from harness.methods.trainable import check_formulation, freeze_except
from harness.models.attention import SUPPORTED_FAMILIES, set_unmasked_layers, validate_layers
from harness.models.info import ModelInfo

ADAPTERS = ("lora", "full")
# Classification heads over hidden states; generation would need a KV cache over unmasked layers.
FORMULATIONS = ("token_classification", "sequence_classification")


def check_adapter(adapter: str) -> None:
    if adapter not in ADAPTERS:
        raise ValueError(f"method.adapter: {adapter!r} is not one of {list(ADAPTERS)}")


def check_controllable(method_name: str, info: ModelInfo, formulation: str, layers: Collection[int]) -> None:
    """Everything that can be known before weights load: family, formulation, layer indices."""
    check_formulation(method_name, formulation, FORMULATIONS)
    if info.family not in SUPPORTED_FAMILIES:
        raise ValueError(
            f"method={method_name}: model family '{info.family}' ({info.name}) has no attention control; "
            f"supported families: {list(SUPPORTED_FAMILIES)}"
        )
    validate_layers(info.num_layers, layers)


def adapt_with_unmasked_layers(
    backbone: nn.Module, adapter: str, lora: LoRA, layers: Collection[int], is_trainable
) -> nn.Module:
    adapted = apply_lora(backbone, lora) if adapter == "lora" else backbone
    set_unmasked_layers(adapted, layers)
    return freeze_except(adapted, is_trainable)


def adapter_trains(adapter: str, parameter_name: str) -> bool:
    return "lora_" in parameter_name if adapter == "lora" else True
