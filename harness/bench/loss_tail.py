"""SIFT training steps with the loss's logits cut to the scored tail, against the full logits.

`harness.formulations.generation.causal_lm_loss` asks the model for logits from the first position
whose prediction is scored on (``logits_to_keep``); the other side is the same loss over logits of
every position (as the harness computed it before), kept here as the baseline. Both sides run
forward + backward on the same training batches of the span-generation formulation (CoNLL-2003
train subset, k demonstrations per prompt, LoRA as `sift` trains it, length-grouped batches as
training draws them), interleaved batch by batch and alternating which side goes first; no
optimizer step, so both see the same weights. Reported: seconds per step, the logits tensor each
side's forward made (measured on the output), and the largest difference between the two losses.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from harness.bench.common import adapt, backbone_from_conf, header, method_from_conf, task_from_conf, timed_call, write_report
from harness.formulations.generation import causal_lm_loss
from harness.formulations.lifecycle import position_ids_from_mask


def full_logits_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The same mean cross-entropy over the logits of every position (the baseline side)."""
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=position_ids_from_mask(batch["attention_mask"]),
    ).logits
    targets = batch["labels"][:, 1:]
    keep = targets != -100
    return nn.functional.cross_entropy(logits[:, :-1][keep].float(), targets[keep])


SIDES = {"full": ("logits at every position", full_logits_loss), "tail": ("logits from the first scored position", causal_lm_loss)}


def main(argv: list[str]) -> int:
    from harness.config import TrainerConfig
    from harness.formulations.span_generation import SpanGeneration, build_span_generation

    parser = argparse.ArgumentParser(prog="python -m harness.bench loss_tail", description=__doc__)
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name")
    parser.add_argument("--steps", type=int, default=8, help="training batches per side")
    parser.add_argument("--batch-size", type=int, default=16)  # conf/experiment/ner_sift_smollm2.yaml
    parser.add_argument("--max-length", type=int, default=640)
    parser.add_argument("--train", type=int, default=2000, help="train subset (data seed 0)")
    parser.add_argument("--k", type=int, default=4, help="demonstrations per prompt")
    parser.add_argument("--loss-mode", default="src", help="vanilla | src | mrc (method.loss_mode)")
    parser.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR"))
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)

    task = task_from_conf("conll2003_ner", max_train_examples=args.train, max_eval_examples=16)
    task_data = task.load(Path(args.data_dir) if args.data_dir else None)
    backbone = backbone_from_conf(args.model, with_lm_head=True)
    method = method_from_conf("sift", k=args.k, loss_mode=args.loss_mode)
    backbone.model = adapt(backbone, method, formulation="span_generation").train()
    trainer_cfg = TrainerConfig(batch_size=args.batch_size, max_length=args.max_length)
    _, datamodule = build_span_generation(
        SpanGeneration(), SimpleNamespace(name=task.name, metric=task.metric), task_data, backbone, method, trainer_cfg, 0
    )
    batches = [batch for _, batch in zip(range(args.steps + 1), datamodule.train_dataloader_standalone())]

    logits_bytes = {side: 0 for side in SIDES}
    seconds = dict.fromkeys(SIDES, 0.0)
    losses: dict[str, list[float]] = {side: [] for side in SIDES}
    current = []
    hook = backbone.model.get_base_model().register_forward_hook(lambda _m, _a, out: current.append(out.logits))

    def step(side: str, batch) -> float:
        loss = SIDES[side][1](backbone.model, batch)
        loss.backward()
        backbone.model.zero_grad(set_to_none=True)
        return float(loss.detach())

    for number, batch in enumerate(batches):
        for side in SIDES if number % 2 == 0 else reversed(SIDES):
            current.clear()
            loss, elapsed = timed_call(step, side, batch)
            if number == 0:
                continue  # warm-up, untimed
            seconds[side] += elapsed
            losses[side].append(loss)
            logits_bytes[side] += sum(t.numel() * t.element_size() for t in current)
    hook.remove()

    steps = len(batches) - 1
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[1:])
    scored = sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches[1:])
    rows = "".join(
        f"| {label} | {seconds[side] / steps:.2f} | {logits_bytes[side] / steps / 2**20:,.0f} | "
        f"{seconds['full'] / seconds[side]:.2f}x |\n"
        for side, (label, _) in SIDES.items()
    )
    gap = max(abs(a - b) for a, b in zip(losses["full"], losses["tail"]))
    text = header("loss_tail") + (
        f"- model: {args.model} + LoRA as method=sift trains it, fp32, forward + backward, no optimizer step\n"
        f"- data: CoNLL-2003 NER train, {args.train}-sentence subset (data seed 0), span-generation prompts with "
        f"k = {args.k} random demonstrations, loss_mode={args.loss_mode}, max_length {args.max_length}; {steps} "
        f"length-grouped batches of {args.batch_size} per side (after one untimed): {tokens:,} tokens, "
        f"{scored:,} of them scored\n\n"
        f"| loss | seconds / step | logits MiB / step | speed-up |\n|---|---|---|---|\n{rows}\n"
        f"**tail / full = {seconds['full'] / seconds['tail']:.2f}x per step**; largest loss difference "
        f"{gap:.2e}\n"
    )
    write_report("loss_tail", text, args.out)
    return 0 if gap < 1e-4 else 1
