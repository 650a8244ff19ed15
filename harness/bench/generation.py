"""Batched greedy generation against one example at a time, on CLUTRR dev prompts.

Both sides call the formulation's own ``generate_batch`` (left padding, position ids over real
tokens, the KV cache) on the same prompts, built as ``build_generation`` builds them: the batched
side on batches of ``--batch-size`` prompts sorted by length, longest first (as evaluation orders
them), the other with one prompt per call. The two run interleaved, batch by batch, alternating
which goes first, so that a change in machine load hits both. Tokens per second counts prompt
tokens (no padding) plus generated ones. Greedy decoding must give the same tokens on both sides;
the number of examples whose outputs differ is reported. Target: at least 3x.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from harness.bench.common import backbone_from_conf, header, task_from_conf, timed_call, write_report
from harness.formulations.generation import generate_batch
from harness.formulations.prompting import PromptFormat, prompt_ids, truncate_prompt


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench generation", description=__doc__)
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name")
    parser.add_argument("--examples", type=int, default=64, help="CLUTRR dev examples (the first N)")
    parser.add_argument("--batch-size", type=int, default=32, help="prompts per batched generate call")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=320, help="prompt + answer budget (320: no CLUTRR prompt is cut)")
    parser.add_argument(
        "--chat-template", action=argparse.BooleanOptionalAction, default=True,
        help="wrap prompts in the chat template (the instruct model then answers in a sentence; without it it stops after 'A:')",
    )
    parser.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR"))
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)

    examples = task_from_conf("clutrr").load(Path(args.data_dir) if args.data_dir else None).dev[: args.examples]
    backbone = backbone_from_conf(args.model, with_lm_head=True)
    model, tokenizer = backbone.model, backbone.tokenizer
    budget = max(args.max_length - args.max_new_tokens, 1)
    fmt = PromptFormat(chat_template=args.chat_template)
    prompts = [truncate_prompt(prompt_ids(tokenizer, e.prompt, fmt), budget) for e in examples]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    batches = [order[start : start + args.batch_size] for start in range(0, len(order), args.batch_size)]
    generate_batch(model, tokenizer, [prompts[order[-1]]], args.max_new_tokens)  # warm-up, untimed

    def batched(batch: list[int]) -> list[list[int]]:
        return generate_batch(model, tokenizer, [prompts[i] for i in batch], args.max_new_tokens)

    def single(batch: list[int]) -> list[list[int]]:
        return [generate_batch(model, tokenizer, [prompts[i]], args.max_new_tokens)[0] for i in batch]

    run = {"batched": batched, "single": single}
    outputs: dict[str, dict[int, list[int]]] = {side: {} for side in run}
    seconds = dict.fromkeys(run, 0.0)
    for number, batch in enumerate(batches):
        for side in ("batched", "single") if number % 2 == 0 else ("single", "batched"):
            generated, elapsed = timed_call(run[side], batch)
            outputs[side].update(zip(batch, generated))
            seconds[side] += elapsed

    differ = [i for i in range(len(prompts)) if outputs["batched"][i] != outputs["single"][i]]
    prompt_tokens = sum(map(len, prompts))
    rows = []
    labels = {"single": "one example per call", "batched": f"batches of {args.batch_size}, left-padded, KV cache"}
    for side, label in labels.items():
        generated = sum(len(o) for o in outputs[side].values())
        rows.append(
            f"| {label} | {seconds[side]:.1f} | {len(prompts) / seconds[side]:.2f} | "
            f"{(prompt_tokens + generated) / seconds[side]:,.0f} | {generated} |\n"
        )
    ratio = seconds["single"] / seconds["batched"]
    lengths = sorted(map(len, prompts))
    sample = tokenizer.decode(outputs["batched"][order[0]], skip_special_tokens=True)
    text = header("generation") + (
        f"- model: {args.model} with its LM head, greedy, at most {args.max_new_tokens} new tokens (stops at EOS)\n"
        f"- data: CLUTRR dev, first {len(prompts)} prompts ({lengths[0]}-{lengths[-1]} tokens, {prompt_tokens} in all, "
        f"at most {budget} kept), chat template {'on' if args.chat_template else 'off'}\n\n"
        f"| generation | seconds | examples / s | tokens / s (prompt + generated) | generated tokens |\n"
        f"|---|---|---|---|---|\n{''.join(rows)}\n"
        f"**ratio batched / one at a time = {ratio:.2f}x** (target >= 3x: {'met' if ratio >= 3 else 'NOT met'})\n\n"
        f"**outputs that differ between the two sides: {len(differ)} of {len(prompts)}**"
        + (f" (dev indices {differ})" if differ else "")
        + f"\n\n- e.g. the longest prompt's answer: {sample!r}\n"
    )
    write_report("generation", text, args.out)
    return 0 if not differ else 1
