"""PT, text-to-text prompt tuning of a multi-label classifier (the baseline of PTEC, Buchner et al.
2024; Lester et al. 2021): PTEC's soft prompt before the input of the frozen language model, which
generates the label list with its own LM head (`label_generation`: task label order, ``"; "``
between labels, ``none`` for an empty set, parsed by exact match). Decoding is free; `pt_trie` is
the same method with trie-constrained decoding.

peft's prompt tuning holds the prompt and freezes the model (`harness.methods.soft_prompt`); the
virtual positions are hidden from the formulation, its loss and its generation loop by
`VirtualTokenModel`. The reference code also weights each example's loss by the summed class
weights of its labels; here every response token counts once (the formulation's loss), so PT's
rows differ from PTEC's in the head and the objective, not in a weighting.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from harness.methods.context import MethodContext
from harness.methods.prompt_learning import check_prompt_learning, is_prompt_parameter
from harness.methods.soft_prompt import apply_soft_prompt, check_soft_prompt
from harness.models.info import ModelInfo


@dataclass
class PT:
    """A soft prompt; the frozen model writes the label list (free decoding)."""

    name: str = "pt"
    """Method name in records."""
    num_virtual_tokens: int = 16
    """m: virtual tokens before the input."""
    init: str = "sample_vocab"
    """label_names (token embeddings of the label names) or sample_vocab (m random vocabulary tokens)."""
    lr: float = 3e-2
    """Learning rate of the soft prompt."""

    formulations = ("label_generation",)
    identity_at_init = False
    stages = ("train",)

    def __post_init__(self) -> None:
        check_soft_prompt(self.num_virtual_tokens, self.init)

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_prompt_learning(self.name, info, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        return apply_soft_prompt(backbone, self.num_virtual_tokens, self.init, context)

    def is_trainable(self, parameter_name: str) -> bool:
        return is_prompt_parameter(parameter_name)
