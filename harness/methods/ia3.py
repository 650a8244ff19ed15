"""(IA)^3 through peft (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and
Cheaper than In-Context Learning"): learned vectors rescale activations, k' = l_k * k, v' = l_v * v
and, in the feed-forward, the input of the output projection, h' = W (l_ff * h). peft initialises
every l to ones, so the adapted model is the base model until it trains.

All of it is peft's (``IA3Config``, its per-family default targets: llama and mistral k_proj,
v_proj, down_proj; qwen2 q_proj, v_proj, down_proj; down_proj scaled on its input).
"""

from __future__ import annotations

from dataclasses import dataclass

from peft import IA3Config, get_peft_model
from torch import nn

from harness.methods.context import MethodContext
from harness.methods.trainable import ALL_FORMULATIONS, check_formulation, freeze_except
from harness.models.info import ModelInfo


@dataclass
class IA3:
    """Learned rescaling vectors on chosen projections; the backbone stays frozen."""

    name: str = "ia3"
    """Method name in records."""
    target_modules: list[str] | None = None
    """Module names to rescale; null = peft's default for the model family."""
    feedforward_modules: list[str] | None = None
    """Which of them are feed-forward (scaled on the input, not the output); null = peft's default."""
    lr: float = 3e-3
    """Learning rate (T-Few's value)."""

    formulations = ALL_FORMULATIONS
    identity_at_init = True  # every vector starts at ones
    stages = ("train",)

    def __post_init__(self) -> None:
        if self.target_modules is not None and not self.target_modules:
            raise ValueError("method.target_modules: an empty list adapts nothing; null = peft's default")
        if self.target_modules and self.feedforward_modules:
            extra = sorted(set(self.feedforward_modules) - set(self.target_modules))
            if extra:
                raise ValueError(f"method.feedforward_modules: {extra} are not in method.target_modules")

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_formulation(self.name, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        config = IA3Config(
            target_modules=list(self.target_modules) if self.target_modules else None,
            feedforward_modules=list(self.feedforward_modules) if self.feedforward_modules is not None else None,
        )
        try:
            model = get_peft_model(backbone, config)
        except ValueError as error:
            raise ValueError(f"method.target_modules: {error}") from None
        return freeze_except(model, self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return "ia3_l" in parameter_name
