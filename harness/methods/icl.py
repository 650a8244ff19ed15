"""In-context learning: the pretrained model as it is, with k solved train examples before each
prompt (Brown et al. 2020, "Language Models are Few-Shot Learners").

No training stage, like zero-shot: the model is only evaluated, on generation (CLUTRR, MQuAKE),
multiple choice (TruthfulQA) and sequence labeling posed as generation (`span_generation`, CoNLL:
SIFT's in-context baseline, the same prompts with no training). The demonstrations are declared through the method contract's
optional ``demonstrations`` attribute; the formulations draw, render and fit them to the length
budget (`harness.formulations.demonstrations`). ``k: 0`` gives zero-shot's prompts exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from harness.methods.context import MethodContext
from harness.methods.demonstration_spec import DemonstrationSpec, check_demonstrations
from harness.methods.trainable import check_formulation, freeze_except
from harness.models.info import ModelInfo


@dataclass
class ICL:
    """No training: k demonstrations from the train split precede every prompt."""

    name: str = "icl"
    """Method name in records."""
    lr: float = 0.0
    """Unused (nothing trains); kept so every method has the same keys."""
    k: int = 4
    """Demonstrations per prompt (sweeps: 0, 1, 2, 4, 8); 0 is the zero-shot prompt."""
    selection: str = "random"
    """random (seeded draw), bm25 (lexically closest), embedding (MiniLM cosine, closest) or fixed (one draw for all)."""

    # A classification head would be untrained noise: only LM-head formulations make sense.
    formulations = ("generation", "multiple_choice", "span_generation")
    identity_at_init = True
    stages = ()  # evaluate only

    def __post_init__(self) -> None:
        check_demonstrations(self.k, self.selection)

    @property
    def demonstrations(self) -> DemonstrationSpec:
        return DemonstrationSpec(k=self.k, selection=self.selection)

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_formulation(self.name, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        return freeze_except(backbone, self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return False
