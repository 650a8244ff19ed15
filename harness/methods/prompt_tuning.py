"""Prompt tuning (Lester et al. 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning"):
m trainable input embeddings P (m x H) before the input, the model frozen: h = LM([P; E x]).

peft's ``PromptTuningConfig`` / ``PromptEmbedding`` hold P (random: N(0, 1) as ``nn.Embedding``;
``sample_vocab``: the embeddings of m random vocabulary tokens). The text initialisation (P = the
embeddings of ``init_text``'s tokens, repeated or cut to m, as peft's ``PromptTuningInit.TEXT``)
is written here from the run's tokenizer: peft's loads a tokenizer by name with
``AutoTokenizer.from_pretrained``, which can reach the Hub and cannot load ours (GGUF files inside
packages). Unlike peft it tokenizes without special tokens (no BOS inside the prompt). The model
the formulations call, with the virtual tokens hidden from them, is
`harness.methods.prompt_learning.VirtualTokenModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from peft import PromptTuningConfig, PromptTuningInit
from torch import nn

from harness.methods.context import MethodContext
from harness.methods.prompt_learning import check_prompt_learning, check_virtual_tokens, is_prompt_parameter, wrap
from harness.methods.trainable import ALL_FORMULATIONS, freeze_except
from harness.models.info import ModelInfo

INITS = ("random", "sample_vocab", "text")


@dataclass
class PromptTuning:
    """A soft prompt of m virtual input tokens; the backbone stays frozen."""

    name: str = "prompt_tuning"
    """Method name in records."""
    num_virtual_tokens: int = 16
    """m: virtual tokens before the input (sweeps: 16, 64, 256, 1024)."""
    init: str = "random"
    """random (peft's N(0, 1)), sample_vocab (embeddings of m random tokens) or text (of init_text)."""
    init_text: str = ""
    """The text whose token embeddings start the prompt (init: text), repeated or cut to m tokens."""
    lr: float = 3e-2
    """Learning rate (peft's prompt-tuning examples; the paper uses 0.3 with Adafactor)."""

    formulations = ALL_FORMULATIONS
    identity_at_init = False  # a prompt changes the outputs from the first step
    stages = ("train",)

    def __post_init__(self) -> None:
        check_virtual_tokens(self.num_virtual_tokens)
        check_init(self.init, self.init_text)

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_prompt_learning(self.name, info, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        init = PromptTuningInit.SAMPLE_VOCAB if self.init == "sample_vocab" else PromptTuningInit.RANDOM
        model = wrap(backbone, PromptTuningConfig(num_virtual_tokens=self.num_virtual_tokens, prompt_tuning_init=init))
        if self.init == "text":
            embeddings = backbone.get_input_embeddings()
            init_from_text(model.prompt_encoder.embedding, embeddings, context.tokenizer, self.init_text)
        return freeze_except(model, self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return is_prompt_parameter(parameter_name)


def check_init(init: str, init_text: str) -> None:
    """`method.init` is one of INITS, with a text when it is ``text`` (prompt and prefix tuning)."""
    if init not in INITS:
        raise ValueError(f"method.init: {init!r} is not one of {list(INITS)}")
    if init == "text" and not init_text.strip():
        raise ValueError("method.init_text: init is text, so a non-empty text is required")


def init_from_text(prompt: nn.Embedding, word_embeddings: nn.Embedding, tokenizer, text: str) -> None:
    """P = the word embeddings of ``text``'s tokens, repeated or cut to m rows (peft's rule)."""
    init_from_ids(prompt, word_embeddings, text_ids(tokenizer, text, prompt.num_embeddings))


def text_ids(tokenizer, text: str, m: int) -> list[int]:
    """``text``'s token ids (no special tokens) repeated, then cut to m (peft's rule)."""
    if tokenizer is None:
        raise ValueError("method.init: text needs the run's tokenizer, and none was given")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"method.init_text: {text!r} has no tokens")
    return (ids * -(-m // len(ids)))[:m]


def init_from_ids(prompt: nn.Embedding, word_embeddings: nn.Embedding, ids: list[int]) -> None:
    """P = the word embeddings of m token ids (one per virtual token)."""
    with torch.no_grad():
        rows = word_embeddings(torch.tensor(ids, device=word_embeddings.weight.device))
        prompt.weight.copy_(rows.to(prompt.weight.dtype))
