"""Dynamic padding with length-grouped batches against fixed max-length padding, on CoNLL-2003.

Both sides train the same LoRA token classifier through the harness's own data module and
Lightning for the same number of optimizer steps; tokens per second counts real (non-padding)
tokens only, so it measures useful work. Target: at least 1.5x.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import lightning as L

from harness.bench.common import adapt, backbone_from_conf, header, method_from_conf, task_from_conf, write_report
from harness.config import TrainerConfig
from harness.formulations.cost import ThroughputMeter
from harness.formulations.token_classification import build_token_classification
from harness.formulations.trainer import build_trainer
from harness.models.backbone import default_cache_dir


def _tokens_per_second(backbone_name: str, task_data, task, dynamic: bool, steps: int, max_length: int) -> tuple[float, float]:
    backbone = backbone_from_conf(backbone_name)
    method = method_from_conf("lora")
    backbone.model = adapt(backbone, method)
    trainer_cfg = TrainerConfig(
        max_steps=steps, batch_size=16, max_length=max_length, length_grouping=dynamic,
        pad_to_max_length=not dynamic, progress_bar=False, deterministic=False,
    )  # fmt: skip
    L.seed_everything(0, verbose=False)
    module, data = build_token_classification(task, task_data, backbone, method, trainer_cfg, 0, default_cache_dir())
    meter = ThroughputMeter()
    with tempfile.TemporaryDirectory() as work:
        trainer = build_trainer(trainer_cfg, Path(work), "dev/span_f1", [], [meter])
        trainer.limit_val_batches = 0
        trainer.fit(module, train_dataloaders=data.train_dataloader_standalone())
    return meter.train_tokens_per_second, meter.train_tokens / max(steps, 1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench padding", description=__doc__)
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--train-sentences", type=int, default=2000)
    parser.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR"))
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)

    task = task_from_conf("conll2003_ner", max_train_examples=args.train_sentences, max_eval_examples=16)
    task_data = task.load(Path(args.data_dir) if args.data_dir else None)
    fixed_tps, fixed_tokens = _tokens_per_second(args.model, task_data, task, False, args.steps, args.max_length)
    dynamic_tps, dynamic_tokens = _tokens_per_second(args.model, task_data, task, True, args.steps, args.max_length)
    ratio = dynamic_tps / fixed_tps
    text = header("padding") + (
        f"- model: {args.model}, LoRA, batch 16, {args.steps} optimizer steps per side\n"
        f"- data: CoNLL-2003 NER train, {args.train_sentences}-sentence subset (data seed 0)\n\n"
        f"| batching | real tokens / s | real tokens per batch |\n|---|---|---|\n"
        f"| fixed padding to {args.max_length}, random batches | {fixed_tps:,.0f} | {fixed_tokens:.0f} |\n"
        f"| dynamic padding, length-grouped batches | {dynamic_tps:,.0f} | {dynamic_tokens:.0f} |\n\n"
        f"**ratio dynamic / fixed = {ratio:.2f}x** (target >= 1.5x: {'met' if ratio >= 1.5 else 'NOT met'})\n"
    )
    write_report("padding", text, args.out)
    return 0
