"""Harness overhead: one LoRA training step through Lightning (checkpoint, throughput meter, CSV and
W&B-offline loggers, rich progress bar) against a minimal hand-written torch + peft loop, on the
same model and the same batch. Target: at most 1.05x.

Step time is the gap between consecutive batch starts (everything the loop does per step counts),
median over the steps after warm-up. The hand loop runs before and after the harness so drift
(thermal, other load) shows up on both sides.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from harness.bench.common import adapt, backbone_from_conf, header, median_ms, method_from_conf, write_report
from harness.config import LoggerConfig, TrainerConfig
from harness.formulations.lifecycle import position_ids_from_mask
from harness.formulations.token_classification import TokenClassifier
from harness.formulations.trainer import build_loggers, build_trainer, close_loggers
from harness.metrics import metric_for

NUM_LABELS = 9


class _SameBatch(Dataset):
    def __init__(self, batch: dict, steps: int) -> None:
        self.batch, self.steps = batch, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> dict:
        return self.batch


class _StepClock(L.Callback):
    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_train_batch_start(self, *args) -> None:
        self.starts.append(time.perf_counter())


def _batch(batch_size: int, length: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(100, 40000, (batch_size, length), generator=generator)
    labels = torch.randint(0, NUM_LABELS, (batch_size, length), generator=generator)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels}


def _classifier(backbone, method) -> TokenClassifier:
    torch.manual_seed(0)
    adapted = adapt(dataclasses.replace(backbone, model=copy.deepcopy(backbone.model)), method)
    labels = ["O"] + [f"{p}-{t}" for t in ("PER", "LOC", "ORG", "MISC") for p in "BI"]
    return TokenClassifier(adapted, backbone.info.hidden_size, labels, metric_for("span_f1"), "span_f1", method, lr=method.lr)


def hand_loop(backbone, method, batch: dict, steps: int) -> list[float]:
    """The minimal loop a researcher would write: forward, loss, backward, clip, step."""
    module = _classifier(backbone, method).train()
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=method.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    starts = []
    for _ in range(steps):
        starts.append(time.perf_counter())
        hidden = module.backbone(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            position_ids=position_ids_from_mask(batch["attention_mask"]),
        ).last_hidden_state
        logits = module.head(module.dropout(hidden))
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    starts.append(time.perf_counter())
    return [b - a for a, b in zip(starts, starts[1:])]


def harness_loop(backbone, method, batch: dict, steps: int, wandb: bool) -> list[float]:
    module = _classifier(backbone, method)
    clock = _StepClock()
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        loggers = build_loggers(
            LoggerConfig(wandb=wandb, wandb_mode="offline" if wandb else "disabled"),
            work_dir, name="bench-overhead", group="bench", tags=["bench"], config={},
        )  # fmt: skip
        trainer = build_trainer(
            TrainerConfig(max_epochs=1, progress_bar=True, log_every_n_steps=1, deterministic=False),
            work_dir, "dev/span_f1", loggers, [clock],
        )  # fmt: skip
        loader = DataLoader(_SameBatch(batch, steps), batch_size=None)
        trainer.fit(module, train_dataloaders=loader)
        close_loggers(loggers)
    starts = clock.starts
    return [b - a for a, b in zip(starts, starts[1:])]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench overhead", description=__doc__)
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--no-wandb", action="store_true", help="leave the W&B offline logger out")
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)

    backbone = backbone_from_conf(args.model)
    method = method_from_conf("lora")
    batch = _batch(args.batch_size, args.length)
    steps = args.steps + args.warmup
    hand_before = hand_loop(backbone, method, batch, steps)[args.warmup :]
    harness = harness_loop(backbone, method, batch, steps, wandb=not args.no_wandb)[args.warmup :]
    hand_after = hand_loop(backbone, method, batch, steps)[args.warmup :]
    hand_ms, harness_ms = median_ms(hand_before + hand_after), median_ms(harness)
    ratio = harness_ms / hand_ms
    text = header("overhead") + (
        f"- model: {args.model}, LoRA r={method.r} on {method.target_modules}, batch {args.batch_size} x {args.length} tokens\n"
        f"- steps timed: {args.steps} per side after {args.warmup} warm-up; hand loop run before and after\n\n"
        f"| loop | median step (ms) |\n|---|---|\n"
        f"| hand-written torch + peft (before) | {median_ms(hand_before):.1f} |\n"
        f"| harness (Lightning, callbacks, loggers{'' if args.no_wandb else ' incl. W&B offline'}) | {harness_ms:.1f} |\n"
        f"| hand-written torch + peft (after) | {median_ms(hand_after):.1f} |\n\n"
        f"**ratio harness / hand = {ratio:.3f}x** (target <= 1.05x: {'met' if ratio <= 1.05 else 'NOT met'})\n"
    )
    write_report("overhead", text, args.out)
    return 0
