"""LS-unLLaMA (Li et al. 2023, "Label Supervised LLaMA Finetuning"): a decoder fine-tuned as a
token classifier with the causal mask removed in every layer (padding mask kept, unlike the
reference code, which zeroes the mask and lets real tokens attend to padding)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from harness.methods.layer_attention import (
    FORMULATIONS,
    adapt_with_unmasked_layers,
    adapter_trains,
    check_adapter,
    check_controllable,
)
from harness.methods.lora import LoRA
from harness.models.info import ModelInfo


@dataclass
class LsUnllama:
    """Every layer is unmasked."""

    name: str = "ls_unllama"
    """Method name in records."""
    adapter: str = "lora"
    """What trains: lora or full."""
    lora: LoRA = field(default_factory=LoRA)
    """LoRA settings when adapter is lora."""
    lr: float = 1e-3
    """Learning rate."""

    formulations = FORMULATIONS
    identity_at_init = False
    stages = ("train",)

    def __post_init__(self) -> None:
        check_adapter(self.adapter)
        if isinstance(self.lora, dict):
            self.lora = LoRA(**self.lora)

    def layers(self, info: ModelInfo) -> list[int]:
        return list(range(info.num_layers))

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_controllable(self.name, info, formulation, self.layers(info))

    def apply(self, backbone: nn.Module, info: ModelInfo, stage: str = "train") -> nn.Module:
        return adapt_with_unmasked_layers(backbone, self.adapter, self.lora, self.layers(info), self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return adapter_trains(self.adapter, parameter_name)
