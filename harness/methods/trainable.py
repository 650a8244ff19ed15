"""Plain functions shared by methods: freezing by filter and counting parameters."""

from __future__ import annotations

from typing import Callable

from torch import nn


def freeze_except(model: nn.Module, is_trainable: Callable[[str], bool]) -> nn.Module:
    """Set requires_grad on every parameter from the method's filter; returns the model."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(is_trainable(name))
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts, each shared tensor counted once."""
    seen: set[int] = set()
    trainable = total = 0
    for parameter in model.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return trainable, total


ALL_FORMULATIONS = ("token_classification", "sequence_classification", "generation", "multiple_choice")


def check_formulation(method_name: str, formulation: str, supported: tuple[str, ...]) -> None:
    if formulation not in supported:
        raise ValueError(
            f"method={method_name}: formulation '{formulation}' is not supported; allowed: {list(supported)}"
            f" (choose one on the command line, e.g. formulation={supported[0]})"
        )
