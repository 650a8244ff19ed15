"""SIFT, supervised in-context fine-tuning (Dukić, Glavaš & Šnajder 2025, arXiv 2509.00921):
fine-tune on prompts that hold k solved train examples before the query, so the model learns the
task and how to use demonstrations at once; evaluate on prompts built the same way.

A preset over the existing parts: LoRA (`harness.methods.lora.apply_lora`; ``full: true`` trains
every weight instead), in-context demonstrations through the method contract's ``demonstrations``
(drawn, rendered and fitted by `harness.formulations.demonstrations`), and the loss mode the
formulation reads from ``loss_mode``:

- ``vanilla``: the language-modelling loss on every token of prompt and response;
- ``src`` (single response completion): on the query's response only;
- ``mrc`` (multiple response completion): on every demonstration's response and the query's.

Posed by `span_generation` (sequence labeling as generated typed spans).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from harness.methods.context import MethodContext
from harness.methods.demonstration_spec import DemonstrationSpec, check_demonstrations
from harness.methods.lora import apply_lora
from harness.methods.trainable import check_formulation, freeze_except
from harness.models.info import ModelInfo

LOSS_MODES = ("vanilla", "src", "mrc")


@dataclass
class SIFT:
    """LoRA (or full) fine-tuning on prompts with k demonstrations; the loss by ``loss_mode``."""

    name: str = "sift"
    """Method name in records."""
    k: int = 4
    """Demonstrations per prompt, in training and evaluation alike (0: plain fine-tuning on the query)."""
    selection: str = "random"
    """random (seeded draw per query), bm25, embedding (MiniLM cosine) or fixed (one draw for all)."""
    loss_mode: str = "src"
    """vanilla (every token), src (the query's response) or mrc (every response in the prompt)."""
    full: bool = False
    """Full fine-tuning of every backbone weight instead of LoRA (then lower lr, e.g. 5e-5)."""
    r: int = 8
    """LoRA rank."""
    alpha: int = 16
    """LoRA scaling numerator: the update is multiplied by alpha / r."""
    dropout: float = 0.05
    """Dropout on the LoRA adapter's input."""
    target_modules: list[str] | None = field(default_factory=lambda: ["q_proj", "v_proj"])
    """Module names LoRA adapts; null = peft's default for the model family."""
    lr: float = 1e-3
    """Learning rate (LoRA's default; full fine-tuning wants about 5e-5)."""

    formulations = ("span_generation",)
    identity_at_init = True
    stages = ("train",)
    use_dora = False  # what apply_lora reads besides the LoRA fields above

    def __post_init__(self) -> None:
        check_demonstrations(self.k, self.selection)
        if self.loss_mode not in LOSS_MODES:
            raise ValueError(f"method.loss_mode: {self.loss_mode!r} is not one of {list(LOSS_MODES)}")
        if self.r < 1:
            raise ValueError(f"method.r: must be >= 1, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"method.dropout: must be in [0, 1), got {self.dropout}")

    @property
    def demonstrations(self) -> DemonstrationSpec:
        return DemonstrationSpec(k=self.k, selection=self.selection)

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_formulation(self.name, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        return freeze_except(backbone if self.full else apply_lora(backbone, self), self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return self.full or "lora_" in parameter_name
