"""PTEC, prompt-tuned embedding classification (Buchner et al., NAACL 2024 Industry, arXiv
2309.12075): a soft prompt before the input of a frozen language model, trained together with a
classification head that replaces the LM head; multi-label by one sigmoid per label.

    z = W h_last(LM([P; E x])) + b,   loss = BCE(z, y; pos_weight = negatives / positives)

One forward pass per text and no generation, hence the paper's inference-cost claim (measured
here: ``python -m harness.bench ptec``).

Who does what:

- the soft prompt P (m x H, `harness.methods.soft_prompt`: peft's ``PromptTuningConfig``, initialised
  from the label names' token embeddings or from random vocabulary embeddings) behind
  `VirtualTokenModel`, which hides the m virtual positions from the formulation: pooling (last,
  mean or first real token) never reads one, and either padding side gives the same logits;
- the head, pooling, BCE with per-label ``pos_weight`` counted on train, and the decision threshold
  tuned on dev are the `sequence_classification` formulation's (``formulation.pos_weight``,
  ``formulation.tune_threshold``);
- written here: the separate learning rates of the paper's "differential learning rates", through
  the method contract's ``lr_for``: the prompt (``backbone.…`` parameters) trains at ``lr``, the head
  (``head.…``) at ``head_lr``. peft's ``PeftModelForSequenceClassification`` is not used: it would
  own the head and the pooling (last token by ``pad_token_id``, which is EOS in SmolLM2, and counts
  the virtual tokens as positions), both of which the formulation already defines for every method.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from harness.methods.context import MethodContext
from harness.methods.prompt_learning import check_prompt_learning, is_prompt_parameter
from harness.methods.soft_prompt import apply_soft_prompt, check_soft_prompt
from harness.models.info import ModelInfo


@dataclass
class PTEC:
    """Soft prompt + classification head, the language model frozen; prompt and head at their own rates."""

    name: str = "ptec"
    """Method name in records."""
    num_virtual_tokens: int = 16
    """m: virtual tokens before the input."""
    init: str = "sample_vocab"
    """label_names (token embeddings of the label names) or sample_vocab (m random vocabulary tokens)."""
    lr: float = 3e-2
    """Learning rate of the soft prompt (prompt tuning's; the run's default rate)."""
    head_lr: float = 5e-3
    """Learning rate of the classification head (the linear probe's rate on hate speech)."""

    formulations = ("sequence_classification",)
    identity_at_init = False  # the prompt changes every real token's hidden state
    stages = ("train",)

    def __post_init__(self) -> None:
        check_soft_prompt(self.num_virtual_tokens, self.init)
        for key in ("lr", "head_lr"):
            if not getattr(self, key) > 0:
                raise ValueError(f"method.{key}: must be > 0, got {getattr(self, key)}")

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_prompt_learning(self.name, info, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        return apply_soft_prompt(backbone, self.num_virtual_tokens, self.init, context)

    def is_trainable(self, parameter_name: str) -> bool:
        return is_prompt_parameter(parameter_name)

    def lr_for(self, parameter_name: str) -> float | None:
        """The formulation module's parameter names: the prompt under ``backbone.``, the head under ``head.``."""
        if parameter_name.startswith("head."):
            return self.head_lr
        if parameter_name.startswith("backbone."):
            return self.lr
        return None
