"""Training and evaluation precision, measured side by side: fp32 (`32-true`), bf16 autocast
(`bf16-mixed`: fp32 weights, bf16 matrix products) and bf16 weights (`bf16-true`).

Each precision is one real run of the harness (`harness.run.run`, the default task, model and
method: CoNLL-2003 NER, SmolLM2-135M, LoRA) on the same training subset, seed and dev subset, so
the table shows what each costs (optimizer step time, training and evaluation throughput, peak
memory) beside what it scores on dev: a speed-up is never bought with an unreported change of
result. A short fp32 warm-up run goes first (model load, tokenization cache, oneDNN kernels), so
the first measured precision does not pay one-time costs. Runs are sequential in one process:
keep the machine otherwise idle.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir

from harness.bench.common import CONF, header, write_report
from harness.formulations.precision import native_bf16
from harness.run import run

PRECISIONS = ("32-true", "bf16-mixed", "bf16-true")


def _config(precision: str, args, work: Path, extra: tuple[str, ...] = ()):
    overrides = [
        f"model={args.model}", "budget=full", f"task.max_train_examples={args.train}", f"task.max_eval_examples={args.dev}",
        "trainer.max_epochs=1", f"trainer.batch_size={args.batch_size}", f"trainer.precision={precision}",
        "trainer.progress_bar=false", "logger.wandb=false", "logger.csv=false", "evaluate_test=false",
        f"paths.results_dir={work / 'results'}", f"paths.work_dir={work / 'outputs'}", "sweep=bench_precision",
        *([f"paths.data_dir={args.data_dir}"] if args.data_dir else []), *extra,
    ]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def _row(precision: str, record, reference) -> list[str]:
    stage = record.stages[0]
    step_ms = 1000 * stage["train_batch_seconds"] / max(stage["optimizer_steps"], 1)
    ref_stage = reference.stages[0]
    ref_step_ms = 1000 * ref_stage["train_batch_seconds"] / max(ref_stage["optimizer_steps"], 1)
    cost, dev = record.cost, record.metrics["dev"]
    return [
        precision,
        f"{step_ms:,.0f}",
        f"{ref_step_ms / step_ms:.2f}x",
        f"{cost.train_tokens_per_second:,.0f}",
        f"{cost.eval_tokens_per_second:,.0f}",
        f"{cost.eval_tokens_per_second / reference.cost.eval_tokens_per_second:.2f}x",
        f"{cost.peak_memory_bytes / 2**30:.2f}",
        f"{dev['span_f1']:.4f}",
        f"{dev['span_f1'] - reference.metrics['dev']['span_f1']:+.4f}",
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench precision", description=__doc__)
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name")
    parser.add_argument("--train", type=int, default=400, help="training sentences (fixed subset, data seed 0)")
    parser.add_argument("--dev", type=int, default=500, help="dev sentences scored (fixed subset)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR"))
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)

    records = {}
    with tempfile.TemporaryDirectory(prefix="bench-precision-") as folder:
        work = Path(folder)
        warm_up = run(_config("32-true", args, work, ("trainer.fast_dev_run=true", "sweep=warm_up")))
        if warm_up.status != "completed":
            print(f"warm-up failed: {warm_up.error}")
            return 1
        for precision in PRECISIONS:
            record = run(_config(precision, args, work))
            if record.status != "completed":
                print(f"{precision} failed: {record.error['message']}")
                return 1
            records[precision] = record

    reference = records["32-true"]
    native, hardware = native_bf16()
    lines = [
        header("precision"),
        f"- hardware: {hardware} (native bf16: {'yes' if native else 'no'}); `trainer.precision: auto` picks "
        f"{'bf16-mixed' if native else '32-true'} here",
        f"- runs: CoNLL-2003 NER, {args.model} + LoRA (r=8, q,v), {args.train} training sentences, 1 epoch, batch "
        f"{args.batch_size}, seed 1; dev = the first {args.dev} sentences of the fixed dev subset; one run per precision, "
        "sequential, after an fp32 warm-up",
        "- step time: training-batch time over optimizer steps; tokens/s: real (non-padding) tokens; memory: peak RSS "
        "on CPU, max allocated on GPU",
        "",
        "| precision | step (ms) | step speed-up | train tok/s | eval tok/s | eval speed-up | peak memory (GiB) | dev span_f1 | Δ dev vs fp32 |",
        "|---|---|---|---|---|---|---|---|---|",
        *("| " + " | ".join(_row(p, records[p], reference)) + " |" for p in PRECISIONS),
    ]
    write_report("precision", "\n".join(lines) + "\n", args.out)
    return 0
