"""Zero-shot: the pretrained model as it is, evaluated without any training stage.

The floor every adaptation method must beat on generation and multiple choice (TruthfulQA MC1 /
MC2, CLUTRR exact match). It has no stages, so `run.py` evaluates dev and test only.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from harness.methods.context import MethodContext
from harness.methods.trainable import check_formulation, freeze_except
from harness.models.info import ModelInfo


@dataclass
class ZeroShot:
    """No training: the base model answers (generation) or ranks the choices (multiple choice)."""

    name: str = "zero_shot"
    """Method name in records."""
    lr: float = 0.0
    """Unused (nothing trains); kept so every method has the same keys."""

    # A classification head would be untrained noise: only LM-head formulations make sense.
    formulations = ("generation", "multiple_choice")
    identity_at_init = True
    stages = ()  # evaluate only

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_formulation(self.name, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        return freeze_except(backbone, self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return False
