"""AdamW with linear warmup and linear decay, over the parameters that require grad."""

from __future__ import annotations

from typing import Callable

import torch
from transformers import get_linear_schedule_with_warmup


def adamw_with_warmup(
    module,
    lr: float,
    weight_decay: float,
    warmup_ratio: float,
    total_steps: int,
    lr_for: Callable[[str], float | None] | None = None,
):
    """Lightning's configure_optimizers payload. No decay on biases and norms (standard practice).

    ``lr_for(parameter_name)`` lets a method give parameter groups their own learning rates (PTEC's
    soft prompt vs its head); None from it, or no ``lr_for``, means the run's ``lr``."""
    groups: dict[tuple[float, float], list] = {}
    for name, parameter in module.named_parameters():
        if not parameter.requires_grad:
            continue
        decay = 0.0 if parameter.ndim < 2 or "norm" in name.lower() else weight_decay
        group_lr = (lr_for(name) if lr_for is not None else None) or lr
        groups.setdefault((group_lr, decay), []).append(parameter)
    param_groups = [{"params": params, "lr": g_lr, "weight_decay": decay} for (g_lr, decay), params in groups.items()]
    optimizer = torch.optim.AdamW(param_groups, lr=lr)
    total_steps = max(int(total_steps), 1)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(warmup_ratio * total_steps), total_steps)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
