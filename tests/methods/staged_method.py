"""A two-stage method for testing the method contract's optional parts (stages, a loss term,
parameter-group learning rates, artefacts) without any real method's details."""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch

from harness.methods.trainable import ALL_FORMULATIONS, check_formulation, freeze_except

SELECT_PARAMETER = "layers.0.self_attn.q_proj.weight"
TRAIN_PARAMETER = "layers.0.self_attn.v_proj.weight"


@dataclass
class TwoStage:
    name: str = "two_stage"
    lr: float = 1e-2
    head_lr: float = 5e-3
    penalty: float = 0.1

    formulations = ALL_FORMULATIONS
    identity_at_init = True
    stages = ("select", "train")

    def __post_init__(self) -> None:
        self._stage = "select"

    def check(self, info, formulation: str) -> None:
        check_formulation(self.name, formulation, self.formulations)

    def apply(self, backbone, context):
        self._stage = context.stage
        context.artefact_dir.mkdir(parents=True, exist_ok=True)
        weights = dict(backbone.named_parameters())
        # What this stage starts from: the previous stage's selected weights.
        summary = {"stage": context.stage, "select_weight_sum": float(weights[SELECT_PARAMETER].detach().double().sum())}
        (context.artefact_dir / f"{context.stage}.json").write_text(json.dumps(summary))
        return freeze_except(backbone, self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return parameter_name == (SELECT_PARAMETER if self._stage == "select" else TRAIN_PARAMETER)

    def loss_term(self, backbone):
        if self._stage != "select":
            return None
        return self.penalty * dict(backbone.named_parameters())[SELECT_PARAMETER].abs().mean()

    def lr_for(self, parameter_name: str):
        return self.head_lr if parameter_name.startswith("head.") else None
