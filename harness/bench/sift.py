"""SIFT / ICL evaluation throughput: span generation with k demonstrations, batched with left
padding, the KV cache and a shared-prefix cache, against one example per ``generate`` call.

Prompts are built by the formulation itself (`build_span_generation` with ``icl``: CoNLL-2003
train subset as the demonstration pool, dev sentences as queries), and every side calls its
``predict``: one sentence per call (no padding, nothing shared), batches of ``--batch-size`` sorted
by length as evaluation orders them, and the same batches with the prefix they share encoded once
(``share_prefix``; with ``--selection fixed`` every prompt shares the instruction and all k
demonstrations). The sides run interleaved, batch by batch, alternating which goes first, so a
change in machine load hits all of them. Tokens per second counts prompt tokens (no padding) plus
generated ones. Greedy decoding must give the same responses on every side; the number of
sentences whose responses differ is reported. Target: at least 2x at k = 8.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from types import SimpleNamespace

import torch

from harness.bench.common import backbone_from_conf, header, task_from_conf, timed_call, write_report
from harness.formulations.generation import shared_prefix_length

SIDES = {
    "single": "one sentence per call",
    "batched": "batches, left-padded, KV cache",
    "shared": "batches + shared-prefix KV cache",
}


def main(argv: list[str]) -> int:
    from harness.config import TrainerConfig
    from harness.formulations.span_generation import SpanGeneration, build_span_generation, span_eval_collate
    from harness.methods.icl import ICL
    from harness.tasks.base import TaskData

    parser = argparse.ArgumentParser(prog="python -m harness.bench sift", description=__doc__)
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name")
    parser.add_argument("--examples", type=int, default=64, help="CoNLL-2003 dev sentences (the first N)")
    parser.add_argument("--train", type=int, default=2000, help="train subset the demonstrations come from (data seed 0)")
    parser.add_argument("--k", type=int, default=8, help="demonstrations per prompt")
    parser.add_argument("--selection", default="fixed", help="random | bm25 | embedding | fixed")
    parser.add_argument("--batch-size", type=int, default=32, help="sentences per batched generate call")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=640,  # conf/experiment/ner_sift_smollm2.yaml: k = 8 fits whole
                        help="prompt + response budget (as trainer.max_length)")
    parser.add_argument("--instruction", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--constrained", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own choice)")
    parser.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR"))
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    task = task_from_conf("conll2003_ner", max_train_examples=args.train)
    data = task.load(Path(args.data_dir) if args.data_dir else None)
    dev = data.dev[: args.examples]
    task_data = TaskData(train=data.train, dev=dev, test=dev, labels=data.labels, data_hash="", source="")
    backbone = backbone_from_conf(args.model, with_lm_head=True)
    spec = SpanGeneration(max_new_tokens=args.max_new_tokens, instruction=args.instruction, constrained=args.constrained)
    module, datamodule = build_span_generation(
        spec, SimpleNamespace(name=task.name, metric=task.metric), task_data, backbone,
        ICL(k=args.k, selection=args.selection), TrainerConfig(max_length=args.max_length), 0,
    )  # fmt: skip
    split = datamodule.splits["dev"]
    prompts = [split[i] for i in range(len(split))]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]["prompt_ids"]), reverse=True)
    batches = [order[start : start + args.batch_size] for start in range(0, len(order), args.batch_size)]

    def predict(indices: list[int], share: bool) -> list:
        module.spec.share_prefix = share
        return module.predict(span_eval_collate([prompts[i] for i in indices]))

    run = {
        "single": lambda batch: [p for i in batch for p in predict([i], False)],
        "batched": lambda batch: predict(batch, False),
        "shared": lambda batch: predict(batch, True),
    }
    predict(order[-1:], False)  # warm-up, untimed
    responses: dict[str, dict[int, str]] = {side: {} for side in run}
    generated = dict.fromkeys(run, 0)
    seconds = dict.fromkeys(run, 0.0)
    for number, batch in enumerate(batches):
        sides = list(run) if number % 2 == 0 else list(reversed(run))
        for side in sides:
            predictions, elapsed = timed_call(run[side], batch)
            seconds[side] += elapsed
            for index, _, score in predictions:
                responses[side][index] = score["response"]
                generated[side] += score["tokens"]

    differ = sorted(
        {i for side in ("batched", "shared") for i in range(len(prompts)) if responses[side][i] != responses["single"][i]}
    )
    prompt_tokens = sum(len(p["prompt_ids"]) for p in prompts)
    shared = [shared_prefix_length([prompts[i]["prompt_ids"] for i in batch]) for batch in batches if len(batch) > 1]
    rows = []
    for side, label in SIDES.items():
        label = label.replace("batches", f"batches of {args.batch_size}")
        rows.append(
            f"| {label} | {seconds[side]:.1f} | {len(prompts) / seconds[side]:.2f} | "
            f"{(prompt_tokens + generated[side]) / seconds[side]:,.0f} | {generated[side]} | "
            f"{seconds['single'] / seconds[side]:.2f}x |\n"
        )
    best = seconds["single"] / min(seconds["batched"], seconds["shared"])
    log = module.demonstration_log.scores("dev")
    lengths = sorted(len(p["prompt_ids"]) for p in prompts)
    on_off = {True: "on", False: "off"}
    text = header("sift") + (
        f"- model: {args.model} with its LM head, greedy, at most {args.max_new_tokens} new tokens (stops at EOS or a "
        f"line break), constrained decoding {on_off[args.constrained]}, {torch.get_num_threads()} torch threads\n"
        f"- data: CoNLL-2003 dev, first {len(prompts)} sentences as queries; k = {args.k} demonstrations "
        f"({args.selection}) from a {len(data.train)}-sentence train subset; instruction {on_off[args.instruction]}; "
        f"prompts {lengths[0]}-{lengths[-1]} tokens ({prompt_tokens} in all, at most "
        f"{args.max_length - args.max_new_tokens} kept); demonstrations shown "
        f"{log.get('demonstrations_shown_mean', 0):.2f} per prompt, {int(log.get('demonstrations_dropped', 0))} dropped\n"
        f"- shared prefix per batch: {min(shared, default=0)}-{max(shared, default=0)} tokens\n\n"
        f"| evaluation | seconds | sentences / s | tokens / s (prompt + generated) | generated tokens | speed-up |\n"
        f"|---|---|---|---|---|---|\n{''.join(rows)}\n"
        f"**best batched side / one at a time = {best:.2f}x** "
        f"(target >= 2x at k = 8: {'met' if best >= 2 else 'NOT met'})\n\n"
        f"**sentences whose responses differ from one at a time: {len(differ)} of {len(prompts)}**"
        + (f" (dev indices {differ})" if differ else "")
        + f"\n\n- e.g. the longest prompt's response: {responses['shared'][order[0]]!r}\n"
    )
    write_report("sift", text, args.out)
    return 0 if not differ else 1
