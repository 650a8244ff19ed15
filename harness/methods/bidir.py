"""Layer-group causal-mask removal (Dukić & Šnajder 2024, "Do Not (Always) Look Right").

The decoder's layers are cut into groups of `group_size` from the bottom (the last, top group may
be shorter: see `harness.models.attention.layers_from_pattern`); bit k of `pattern` says whether
group k attends bidirectionally (padding mask only) or keeps the causal mask. The paper sweeps all
2^m patterns and selects one on dev (sweeps/bidir_patterns.yaml). An explicit `unmasked_layers`
list overrides the pattern.
"""

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
from harness.models.attention import layers_from_pattern
from harness.models.info import ModelInfo


@dataclass
class Bidir:
    """A token classifier whose chosen layer groups see the whole sentence."""

    name: str = "bidir"
    """Method name in records."""
    group_size: int = 8
    """Decoder layers per group (Mistral-7B's 32 layers in groups of 8 give 4-bit patterns)."""
    pattern: str = "0011"
    """One bit per group, lowest layers first; '1' removes the causal mask in that group."""
    unmasked_layers: list[int] | None = None
    """Explicit layer indices to unmask instead of a pattern (null: use the pattern)."""
    adapter: str = "lora"
    """What trains: lora or full."""
    lora: LoRA = field(default_factory=LoRA)
    """LoRA settings when adapter is lora."""
    lr: float = 1e-3
    """Learning rate."""

    formulations = FORMULATIONS
    stages = ("train",)

    def __post_init__(self) -> None:
        check_adapter(self.adapter)
        if isinstance(self.lora, dict):
            self.lora = LoRA(**self.lora)
        if self.unmasked_layers is None and (not isinstance(self.pattern, str) or set(self.pattern) - {"0", "1"}):
            raise ValueError(f"method.pattern: {self.pattern!r} must be a quoted string of 0/1 bits, e.g. '0011'")

    @property
    def identity_at_init(self) -> bool:
        no_layers = not self.unmasked_layers if self.unmasked_layers is not None else "1" not in self.pattern
        return no_layers  # unmasking changes outputs before any training

    def layers(self, info: ModelInfo) -> list[int]:
        if self.unmasked_layers is not None:
            return list(self.unmasked_layers)
        return layers_from_pattern(info.num_layers, self.group_size, self.pattern)

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_controllable(self.name, info, formulation, self.layers(info))

    def apply(self, backbone: nn.Module, info: ModelInfo, stage: str = "train") -> nn.Module:
        return adapt_with_unmasked_layers(backbone, self.adapter, self.lora, self.layers(info), self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return adapter_trains(self.adapter, parameter_name)
