"""PT + trie: text-to-text prompt tuning whose decoding is constrained to valid label lists
(Buchner et al. 2024, "Trie Search"): the same soft prompt and training as `pt`, and at every
generated token only what keeps the response a list of distinct task labels (or ``none``) is
allowed (`harness.formulations.label_trie`: a token trie of the labels' token sequences; after a
complete label only the separator, EOS or a longer label sharing the prefix; no label twice).

The constraint reaches the formulation through the method contract's optional
``logits_processors(tokenizer)``; the labels are the task's, handed over in ``apply``
(``context.labels``). Each call returns a fresh processor, since it keeps per-row state for one
``generate`` call.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from harness.formulations.label_trie import label_trie_processor
from harness.methods.context import MethodContext
from harness.methods.prompt_learning import check_prompt_learning, is_prompt_parameter
from harness.methods.soft_prompt import apply_soft_prompt, check_soft_prompt
from harness.models.info import ModelInfo


@dataclass
class PTTrie:
    """A soft prompt; the frozen model writes the label list inside the label trie."""

    name: str = "pt_trie"
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
    task_labels = ()  # the task's labels, set by apply (no annotation: not a config key)

    def __post_init__(self) -> None:
        check_soft_prompt(self.num_virtual_tokens, self.init)

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_prompt_learning(self.name, info, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        self.task_labels = tuple(context.labels)
        return apply_soft_prompt(backbone, self.num_virtual_tokens, self.init, context)

    def is_trainable(self, parameter_name: str) -> bool:
        return is_prompt_parameter(parameter_name)

    def logits_processors(self, tokenizer) -> list:
        if not self.task_labels:
            raise ValueError("method=pt_trie: no labels to constrain decoding to (apply() was given none)")
        return [label_trie_processor(tokenizer, list(self.task_labels))]
