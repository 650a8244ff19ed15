"""Prefix tuning (Li & Liang 2021, "Prefix-Tuning: Optimizing Continuous Prompts for Generation"):
m trainable keys and values in every layer's attention, which every token attends to before the
input's own: head_i = Attn(x W_q, [P_k; x W_k], [P_v; x W_v]), the model frozen.

peft's ``PrefixTuningConfig`` / ``PrefixEncoder`` hold the prefix (directly, or through the
paper's reparameterization: an embedding and a two-layer MLP, ``prefix_projection``), sized for
grouped KV heads, and ``get_prompt`` turns it into a ``DynamicCache``. The model the formulations
call, which places that cache so that neither positions nor padding change, is
`harness.methods.prompt_learning.VirtualTokenModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

from peft import PrefixTuningConfig
from torch import nn

from harness.methods.context import MethodContext
from harness.methods.prompt_learning import (
    check_encoder_hidden_size,
    check_prompt_learning,
    check_virtual_tokens,
    is_prompt_parameter,
    refuse_unmasked_attention,
    wrap,
)
from harness.methods.trainable import ALL_FORMULATIONS, freeze_except
from harness.models.info import ModelInfo


@dataclass
class PrefixTuning:
    """m virtual keys and values in every layer; the backbone stays frozen."""

    name: str = "prefix_tuning"
    """Method name in records."""
    num_virtual_tokens: int = 16
    """m: prefix length (keys and values per layer)."""
    prefix_projection: bool = False
    """Reparameterize the prefix by an MLP over m embeddings (the paper's stabilising trick)."""
    encoder_hidden_size: int | None = None
    """Hidden width of that MLP (prefix_projection: true); null = the model's KV width."""
    lr: float = 1e-2
    """Learning rate (peft's prefix-tuning examples)."""

    formulations = ALL_FORMULATIONS
    identity_at_init = False  # the prefix is attended from the first step
    stages = ("train",)

    def __post_init__(self) -> None:
        check_virtual_tokens(self.num_virtual_tokens)
        check_encoder_hidden_size(self.encoder_hidden_size)
        if self.encoder_hidden_size is not None and not self.prefix_projection:
            raise ValueError("method.encoder_hidden_size: only used with method.prefix_projection=true; set it to null")

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_prompt_learning(self.name, info, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        refuse_unmasked_attention(self.name, backbone)
        config = PrefixTuningConfig(
            num_virtual_tokens=self.num_virtual_tokens,
            prefix_projection=self.prefix_projection,
            encoder_hidden_size=self.encoder_hidden_size,
        )
        return freeze_except(wrap(backbone, config), self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return is_prompt_parameter(parameter_name)
