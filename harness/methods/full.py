"""Full fine-tuning: every backbone weight trains. The upper baseline in quality and in cost."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from harness.methods.trainable import ALL_FORMULATIONS, check_formulation, freeze_except
from harness.methods.context import MethodContext
from harness.models.info import ModelInfo


@dataclass
class Full:
    """Full fine-tuning of all backbone parameters."""

    name: str = "full"
    """Method name in records."""
    lr: float = 5e-5
    """Learning rate (full fine-tuning needs a far smaller one than adapters)."""

    formulations = ALL_FORMULATIONS
    identity_at_init = True
    stages = ("train",)

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_formulation(self.name, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        return freeze_except(backbone, self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return True
