"""Cost of removing the causal mask: training step time and peak memory of a LoRA token
classifier with every decoder layer unmasked (padding mask only) relative to the same model with
every layer causal. Target: at most 1.05x on both.

Each side runs in a fresh process (so one side's freed memory cannot hide the other's peak), in
the order causal, unmasked, causal, unmasked; step time is the median over both processes of a
side. Batches are right-padded to mixed lengths, so the unmasked layers take their key-padding
mask path. Peak memory is the rise of process RSS from before the first step to the peak over all steps
on CPU (sampled), or max
allocated CUDA memory on GPU.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time

import torch

from harness.bench.common import adapt, backbone_from_conf, header, method_from_conf, write_report

SIDES = ("causal", "unmasked")


def _batch(batch_size: int, max_length: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(max_length // 3, max_length + 1, (batch_size,), generator=generator)
    lengths[0] = max_length
    input_ids = torch.randint(100, 30000, (batch_size, max_length), generator=generator)
    mask = (torch.arange(max_length)[None, :] < lengths[:, None]).long()
    labels = torch.where(mask.bool(), torch.randint(0, 9, (batch_size, max_length), generator=generator), -100)
    return {"input_ids": input_ids * mask, "attention_mask": mask, "labels": labels}


def _measure(side: str, model: str, batch_size: int, length: int, steps: int, warmup: int, queue) -> None:
    from harness.formulations.cost import PeakMemory
    from harness.formulations.token_classification import TokenClassifier
    from harness.metrics import metric_for

    torch.manual_seed(0)
    backbone = backbone_from_conf(model)
    method = method_from_conf("ls_unllama" if side == "unmasked" else "ls_llama")
    adapted = adapt(backbone, method, "unmasked" if side == "unmasked" else "causal")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    module = TokenClassifier(adapted, backbone.info.hidden_size, ["O"] * 9, metric_for("span_f1"), "span_f1", method, lr=1e-4)
    module = module.to(device).train()
    batch = {k: v.to(device) for k, v in _batch(batch_size, length).items()}
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        logits = module(batch["input_ids"], batch["attention_mask"])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()

    baseline = PeakMemory()  # model, batch and optimizer are in memory; no step has run yet
    with baseline:
        pass
    times = []
    with PeakMemory() as memory:  # the first steps allocate activations, gradients, Adam state
        for index in range(warmup + steps):
            started = time.perf_counter()
            step()
            if index >= warmup:
                times.append(time.perf_counter() - started)
    peak = memory.peak_bytes - (baseline.peak_bytes if memory.kind == "rss" else 0)
    queue.put({"side": side, "times": times, "peak_bytes": peak, "kind": memory.kind})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench bidir", description=__doc__)
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name (mistral_7b_random on a GPU)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)

    context = multiprocessing.get_context("spawn")
    results: dict[str, list[dict]] = {side: [] for side in SIDES}
    for _ in range(args.rounds):
        for side in SIDES:
            queue = context.Queue()
            process = context.Process(
                target=_measure, args=(side, args.model, args.batch_size, args.length, args.steps, args.warmup, queue)
            )
            process.start()
            results[side].append(queue.get())
            process.join()

    step_ms = {side: 1000 * statistics.median(t for r in results[side] for t in r["times"]) for side in SIDES}
    peak_mib = {side: statistics.median(r["peak_bytes"] for r in results[side]) / 2**20 for side in SIDES}
    time_ratio = step_ms["unmasked"] / step_ms["causal"]
    memory_ratio = peak_mib["unmasked"] / peak_mib["causal"]
    kind = results["causal"][0]["kind"]
    text = header("bidir") + (
        f"- model: {args.model}, LoRA (ls_llama vs ls_unllama presets), batch {args.batch_size} x up to {args.length} "
        f"tokens (right-padded, mixed lengths), {args.steps} timed steps after {args.warmup} warm-up, "
        f"{args.rounds} fresh processes per side, alternating\n\n"
        f"| attention | median step (ms) | peak memory rise ({kind}, MiB) |\n|---|---|---|\n"
        f"| every layer causal | {step_ms['causal']:.1f} | {peak_mib['causal']:.0f} |\n"
        f"| every layer unmasked (padding mask only) | {step_ms['unmasked']:.1f} | {peak_mib['unmasked']:.0f} |\n\n"
        f"**step time ratio unmasked / causal = {time_ratio:.3f}x**, "
        f"**peak memory ratio = {memory_ratio:.3f}x** (target <= 1.05x: "
        f"{'met' if max(time_ratio, memory_ratio) <= 1.05 else 'NOT met'})\n"
    )
    write_report("bidir", text, args.out)
    return 0
