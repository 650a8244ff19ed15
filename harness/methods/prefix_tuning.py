"""Prefix tuning (Li & Liang 2021, "Prefix-Tuning: Optimizing Continuous Prompts for Generation"):
m trainable keys and values in every layer's attention, which every token attends to before the
input's own: head_i = Attn(x W_q, [P_k; x W_k], [P_v; x W_v]), the model frozen.

peft's ``PrefixTuningConfig`` / ``PrefixEncoder`` hold the prefix (directly, or through the
paper's reparameterization: an embedding and a two-layer MLP, ``prefix_projection``), sized for
grouped KV heads, and ``get_prompt`` turns it into a ``DynamicCache``. The model the formulations
call, which places that cache so that neither positions nor padding change, is
`harness.methods.prompt_learning.VirtualTokenModel`.

Initialisation (``init``), written here because peft has only N(0, 1) (or zeros) for a prefix:
``random`` is peft's N(0, 1); ``sample_vocab`` and ``text`` start the prefix from real words'
activations, the paper's remedy for the instability of a random start (its initialisation study):
the keys and values the frozen model computes for m tokens (drawn from the vocabulary with the
run's seed, or ``init_text``'s tokens repeated or cut to m) at positions -m .. -1, so that a
prefix from a text is that text written just before the input. N(0, 1) values are far larger
than a small model's own (SmolLM2-135M's first layer: value RMS 0.04), and with m >= 64 they swamp
every token's attention output (ntk_smollm2's first prefix-tuning records collapsed to tagging
almost everything O; results/superseded/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from peft import PrefixTuningConfig
from torch import nn
from transformers import DynamicCache

from harness.methods.context import MethodContext
from harness.methods.prompt_learning import (
    check_encoder_hidden_size,
    check_prompt_learning,
    check_virtual_tokens,
    is_prompt_parameter,
    refuse_unmasked_attention,
    wrap,
)
from harness.methods.prompt_tuning import check_init, text_ids
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
    init: str = "sample_vocab"
    """random (peft's N(0, 1)), sample_vocab (the frozen model's keys and values for m random
    tokens) or text (for init_text's tokens); the last two need prefix_projection: false."""
    init_text: str = ""
    """The text whose keys and values start the prefix (init: text), repeated or cut to m tokens."""
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
        check_init(self.init, self.init_text)
        if self.init != "random" and self.prefix_projection:
            raise ValueError(
                f"method.init: {self.init} writes the prefix's keys and values, which with "
                "method.prefix_projection=true are an MLP's output; use init=random with the projection"
            )

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_prompt_learning(self.name, info, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        refuse_unmasked_attention(self.name, backbone)
        config = PrefixTuningConfig(
            num_virtual_tokens=self.num_virtual_tokens,
            prefix_projection=self.prefix_projection,
            encoder_hidden_size=self.encoder_hidden_size,
        )
        prefix = None
        if self.init != "random":  # from the frozen backbone, before peft wraps it
            m = self.num_virtual_tokens
            if self.init == "sample_vocab":
                ids = torch.randint(0, backbone.get_input_embeddings().num_embeddings, (m,)).tolist()
            else:
                ids = text_ids(context.tokenizer, self.init_text, m)
            prefix = prefix_from_tokens(backbone, ids)
        model = wrap(backbone, config)
        if prefix is not None:
            weight = model.prompt_encoder.embedding.weight
            with torch.no_grad():
                weight.copy_(prefix.to(weight))
        return freeze_except(model, self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return is_prompt_parameter(parameter_name)


def prefix_from_tokens(backbone: nn.Module, ids: list[int]) -> torch.Tensor:
    """(m, layers x 2 x KV width): the backbone's keys and values for ``ids`` at positions -m .. -1,
    in peft's prefix layout (per token: layer by layer, keys then values, head by head)."""
    m = len(ids)
    device = backbone.get_input_embeddings().weight.device
    was_training = backbone.training
    backbone.eval()  # no dropout in the activations the prefix starts from
    try:
        with torch.no_grad():
            out = backbone(
                input_ids=torch.tensor([ids], device=device),
                position_ids=torch.arange(-m, 0, device=device)[None],  # just before the input's position 0
                cache=DynamicCache(),  # plain layers keep all m tokens (a sliding-window layer keeps its window)
                use_cache=True,
            )
    finally:
        backbone.train(was_training)
    layers = out.cache.layers
    per_layer = torch.stack([torch.stack([layer.keys[0], layer.values[0]]) for layer in layers])  # (L, 2, H, m, D)
    return per_layer.permute(3, 0, 1, 2, 4).reshape(m, -1)
