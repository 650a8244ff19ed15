"""LoFiT's cost: the inference overhead of its head patch, and its trainable parameters against LoRA.

Inference: the same model with and without LoFiT's stage-2 patch (offsets on K heads, the heads
the hook touches; K = 32 by default, the paper's Llama-2-7B setting) runs the same evaluation
batches, no grad, in alternating rounds so that drift hits both sides; the figure is the median
forward time. Target: at most 1.05x. The patched heads are drawn at random (which heads does not
change the cost; how many layers carry a hook does, and random heads spread over many layers, the
worst case).

Parameters: counted on the adapted models themselves (`count_parameters`), LoFiT's stage 2 with
K = 16 and K = 32 against LoRA r = 8 on q and v (the baseline's preset). Goal: at most 1/20.
"""

from __future__ import annotations

import argparse
import copy

import torch

from harness.bench.common import adapt, backbone_from_conf, header, median_ms, method_from_conf, timed_call, write_report
from harness.methods.context import MethodContext
from harness.methods.lofit import TRAIN
from harness.methods.trainable import count_parameters


def _lofit(backbone, model, heads: int):
    torch.manual_seed(0)
    method = method_from_conf("lofit", heads=heads, random_heads=True)
    context = MethodContext(info=backbone.info, formulation="generation", stage=TRAIN, tokenizer=backbone.tokenizer)
    return method.apply(copy.deepcopy(model), context)


def _batch(batch_size: int, length: int, vocab: int) -> dict:
    ids = torch.randint(100, vocab - 1, (batch_size, length), generator=torch.Generator().manual_seed(0))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench lofit", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name")
    parser.add_argument("--heads", type=int, default=32, help="K heads patched in the inference comparison")
    parser.add_argument("--compare-heads", default="16,32", help="K values whose parameter counts are set against LoRA's")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)

    backbone = backbone_from_conf(args.model, with_lm_head=True)
    plain = backbone.model.eval()
    device = next(plain.parameters()).device
    patched = _lofit(backbone, plain, args.heads).eval()
    batch = {k: v.to(device) for k, v in _batch(args.batch_size, args.length, backbone.info.vocab_size).items()}
    with torch.no_grad():
        torch.testing.assert_close(patched(**batch).logits.shape, plain(**batch).logits.shape)
        times = {"plain": [], "lofit": []}
        for round_number in range(args.rounds + 2):  # the first two rounds warm up
            order = ("plain", "lofit") if round_number % 2 == 0 else ("lofit", "plain")
            for name in order:
                _, seconds = timed_call(lambda m=patched if name == "lofit" else plain: m(**batch))
                if round_number >= 2:
                    times[name].append(seconds)
    plain_ms, lofit_ms = median_ms(times["plain"]), median_ms(times["lofit"])
    layers_hooked = len({n.split(".self_attn")[0] for n, _ in patched.named_parameters() if "lofit.offset" in n})

    counts = {}
    for heads in (int(k) for k in args.compare_heads.split(",")):
        counts[f"LoFiT K={heads} (stage 2)"] = count_parameters(_lofit(backbone, plain, heads))[0]
    counts["LoRA r=8 on q, v"] = count_parameters(adapt(backbone_from_conf(args.model), method_from_conf("lora")))[0]
    lora = counts["LoRA r=8 on q, v"]

    info = backbone.info
    lines = [
        header("lofit"),
        f"- model: {args.model} ({info.num_layers} layers x {info.num_heads} heads = {info.num_layers * info.num_heads} heads, head_dim {info.head_dim})",
        f"- inference: batch {args.batch_size} x {args.length} tokens, LM head on, no grad; {args.rounds} alternating rounds after 2 warm-up rounds; median",
        "",
        "## Inference overhead of the patch (goal: at most 1.05x)",
        "",
        "| model | forward ms | ratio |",
        "|---|---:|---:|",
        f"| unpatched | {plain_ms:.1f} | 1.00 |",
        f"| LoFiT offsets on {args.heads} random heads ({layers_hooked} layers hooked) | {lofit_ms:.1f} | {lofit_ms / plain_ms:.3f} |",
        "",
        "## Trainable parameters (goal: LoFiT at most 1/20 of LoRA's)",
        "",
        "| method | trainable parameters | share of LoRA's |",
        "|---|---:|---:|",
        *[f"| {name} | {count:,} | 1/{lora / count:.0f} |" if count != lora else f"| {name} | {count:,} | 1 |" for name, count in counts.items()],
        "",
        "Stage 1 (head selection) trains the scalings A on every head: "
        f"{info.num_layers * info.num_heads * info.head_dim:,} parameters, discarded before stage 2.",
        "",
    ]  # fmt: skip
    write_report("lofit", "\n".join(lines), args.out)
    return 0
