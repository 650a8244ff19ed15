"""LoRA through peft (Hu et al. 2021): W + (alpha/r) B A on the target projections, B = 0 at init."""

from __future__ import annotations

from dataclasses import dataclass, field

from peft import LoraConfig, get_peft_model
from torch import nn

from harness.methods.trainable import ALL_FORMULATIONS, check_formulation, freeze_except
from harness.methods.context import MethodContext
from harness.models.info import ModelInfo


@dataclass
class LoRA:
    """Low-rank adapters on chosen linear layers; the backbone stays frozen."""

    name: str = "lora"
    """Method name in records."""
    r: int = 8
    """Rank of the update."""
    alpha: int = 16
    """Scaling numerator: the update is multiplied by alpha / r."""
    dropout: float = 0.05
    """Dropout on the adapter's input."""
    target_modules: list[str] | None = field(default_factory=lambda: ["q_proj", "v_proj"])
    """Module names to adapt; null = peft's default for the model family."""
    use_dora: bool = False
    """Weight-decomposed LoRA (DoRA, Liu et al. 2024) through peft."""
    lr: float = 1e-3
    """Learning rate (1e-3 suits short budgets; the 7B papers use 2e-4, which their experiments set)."""

    formulations = ALL_FORMULATIONS
    identity_at_init = True
    stages = ("train",)

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"method.r: must be >= 1, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"method.dropout: must be in [0, 1), got {self.dropout}")

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_formulation(self.name, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        return freeze_except(apply_lora(backbone, self), self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return "lora_" in parameter_name


def apply_lora(backbone: nn.Module, settings: LoRA) -> nn.Module:
    """Wrap a backbone in peft LoRA; shared by every preset that trains with LoRA."""
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules) if settings.target_modules else None,
        use_dora=settings.use_dora,
        bias="none",
    )
    try:
        return get_peft_model(backbone, config)
    except ValueError as error:
        raise ValueError(f"method.target_modules: {error}") from None
