"""Linear probe: the backbone is frozen, only the formulation's task head trains."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from harness.methods.trainable import check_formulation, freeze_except
from harness.methods.context import MethodContext
from harness.models.info import ModelInfo


@dataclass
class LinearProbe:
    """Frozen backbone + trained linear head (the 'frozen embeddings' baseline)."""

    name: str = "linear_probe"
    """Method name in records."""
    lr: float = 1e-3
    """Learning rate of the head."""

    # A probe needs a head to train: generative objectives have none.
    formulations = ("token_classification", "sequence_classification")
    identity_at_init = True
    stages = ("train",)

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_formulation(self.name, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        return freeze_except(backbone, self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return False
