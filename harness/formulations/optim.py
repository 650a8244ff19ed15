"""AdamW with linear warmup and linear decay, over the parameters that require grad."""

from __future__ import annotations

import torch
from transformers import get_linear_schedule_with_warmup


def adamw_with_warmup(module, lr: float, weight_decay: float, warmup_ratio: float, total_steps: int):
    """Lightning's configure_optimizers payload. No decay on biases and norms (standard practice)."""
    decay, no_decay = [], []
    for name, parameter in module.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim < 2 or "norm" in name.lower() else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)
    total_steps = max(int(total_steps), 1)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(warmup_ratio * total_steps), total_steps)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
