"""P-tuning (Liu et al. 2021, "GPT Understands, Too"): m virtual input tokens produced by a small
prompt encoder, h_i = MLP(e_i) or MLP(LSTM(e)_i), before the input; the model frozen.

peft's ``PromptEncoderConfig`` / ``PromptEncoder`` hold the embeddings and the encoder (MLP or
bidirectional LSTM + MLP). peft places all virtual tokens before the input (no anchors between
input tokens). The model the formulations call, with the virtual tokens hidden from them, is
`harness.methods.prompt_learning.VirtualTokenModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

from peft import PromptEncoderConfig
from torch import nn

from harness.methods.context import MethodContext
from harness.methods.prompt_learning import (
    check_encoder_hidden_size,
    check_prompt_learning,
    check_virtual_tokens,
    is_prompt_parameter,
    wrap,
)
from harness.methods.trainable import ALL_FORMULATIONS, freeze_except
from harness.models.info import ModelInfo

ENCODERS = ("MLP", "LSTM")


@dataclass
class PTuning:
    """Virtual input tokens from a trained prompt encoder; the backbone stays frozen."""

    name: str = "p_tuning"
    """Method name in records."""
    num_virtual_tokens: int = 16
    """m: virtual tokens before the input."""
    encoder_reparameterization_type: str = "MLP"
    """The prompt encoder: MLP, or LSTM (bidirectional LSTM then MLP, as the paper)."""
    encoder_hidden_size: int | None = None
    """Hidden width of the prompt encoder; null = the model's hidden size."""
    lr: float = 1e-3
    """Learning rate (peft's P-tuning examples)."""

    formulations = ALL_FORMULATIONS
    identity_at_init = False  # the encoded prompt changes the outputs from the first step
    stages = ("train",)

    def __post_init__(self) -> None:
        check_virtual_tokens(self.num_virtual_tokens)
        check_encoder_hidden_size(self.encoder_hidden_size)
        if self.encoder_reparameterization_type not in ENCODERS:
            raise ValueError(
                f"method.encoder_reparameterization_type: {self.encoder_reparameterization_type!r} "
                f"is not one of {list(ENCODERS)}"
            )

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_prompt_learning(self.name, info, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        config = PromptEncoderConfig(
            num_virtual_tokens=self.num_virtual_tokens,
            encoder_reparameterization_type=self.encoder_reparameterization_type,
            encoder_hidden_size=self.encoder_hidden_size,
        )
        return freeze_except(wrap(backbone, config), self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return is_prompt_parameter(parameter_name)
