"""The attention axis (conf/attention/): which decoder layers see the whole sequence.

One schema for every choice: ``causal`` (the model's own mask everywhere), ``unmasked`` (every
layer padding-only: LS-unLLaMA), ``layer_groups`` (a bit per group of ``group_size`` layers, lowest
first: "Do Not (Always) Look Right"), ``layers`` (an explicit list). It combines with any adapter;
the layer control itself is `harness.models.attention`. Unmasked layers need the whole sequence
in one forward, so they pose classification only (generation and choice scoring reuse a KV cache).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from harness.models.attention import SUPPORTED_FAMILIES, layers_from_pattern, set_unmasked_layers, validate_layers
from harness.models.info import ModelInfo

UNMASKED = ("none", "all", "groups", "layers")
FORMULATIONS_WITH_UNMASKED = ("token_classification", "sequence_classification")


@dataclass
class AttentionSpec:
    """Which layers are padding-only (bidirectional); the rest keep the model's causal mask."""

    name: str = "causal"
    """Choice name (the conf/attention file)."""
    unmasked: str = "none"
    """none (all causal), all, groups (by pattern) or layers (by list)."""
    group_size: int = 8
    """Decoder layers per group (unmasked: groups); the top group may be shorter."""
    pattern: str = "0011"
    """One bit per group, lowest layers first; '1' removes the causal mask in that group."""
    layers: list[int] | None = None
    """Layer indices to unmask (unmasked: layers)."""

    def __post_init__(self) -> None:
        if self.unmasked not in UNMASKED:
            raise ValueError(f"attention.unmasked: {self.unmasked!r} is not one of {list(UNMASKED)}")
        if self.unmasked == "groups" and (not isinstance(self.pattern, str) or set(self.pattern) - {"0", "1"}):
            raise ValueError(f"attention.pattern: {self.pattern!r} must be a quoted string of 0/1 bits, e.g. '0011'")
        if self.unmasked == "layers" and self.layers is None:
            raise ValueError("attention.layers: a list of layer indices is required when attention.unmasked is layers")

    def unmasked_layers(self, info: ModelInfo) -> list[int]:
        if self.unmasked == "none":
            return []
        if self.unmasked == "all":
            return list(range(info.num_layers))
        if self.unmasked == "groups":
            return layers_from_pattern(info.num_layers, self.group_size, self.pattern)
        return list(self.layers or [])

    @property
    def is_causal(self) -> bool:
        """True when no layer is unmasked (the model's own attention, identity at initialisation)."""
        if self.unmasked == "groups":
            return "1" not in self.pattern
        if self.unmasked == "layers":
            return not self.layers
        return self.unmasked == "none"

    def check(self, info: ModelInfo, formulation: str) -> None:
        """Everything that can be known before weights load: family, formulation, layer indices."""
        layers = self.unmasked_layers(info)
        validate_layers(info.num_layers, layers)
        if not layers:
            return
        if info.family not in SUPPORTED_FAMILIES:
            raise ValueError(
                f"attention={self.name}: model family '{info.family}' ({info.name}) has no attention control; "
                f"supported families: {list(SUPPORTED_FAMILIES)}"
            )
        if formulation not in FORMULATIONS_WITH_UNMASKED:
            raise ValueError(
                f"attention={self.name}: unmasked layers cannot pose formulation '{formulation}' (it decodes "
                f"with a KV cache); allowed: {list(FORMULATIONS_WITH_UNMASKED)}, or attention=causal"
            )

    def apply(self, backbone: nn.Module, info: ModelInfo) -> nn.Module:
        layers = self.unmasked_layers(info)
        if layers:
            set_unmasked_layers(backbone, layers)
        return backbone
