"""Multiple-choice scoring with the question's KV cache shared by its choices, against one choice
per forward, on TruthfulQA fold-0 dev questions.

Three ways to the same log-likelihoods, each with the formulation's own functions on the same
token ids (built as ``build_multiple_choice`` builds them):

- one choice per forward: every question + choice row alone through the model
  (``score_choices_full`` with one choice), the naive loop;
- one forward per question: all of a question's choices as full sequences (``score_choices_full``);
- shared prefix: ``--questions-per-call`` questions per call, sorted by length, longest first, as
  evaluation orders them; their questions encoded once and the cache reused for every choice
  (``score_choices_shared``, what ``share_prefix: true`` runs).

The three run interleaved, group by group, rotating which goes first, so that a change in machine
load hits all of them. The scores must agree: the largest absolute difference from the naive
loop is reported. Target: shared prefix at least 3x the questions per second of the naive loop.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from harness.bench.common import backbone_from_conf, header, task_from_conf, timed_call, write_report
from harness.config import TrainerConfig
from harness.formulations.multiple_choice import MultipleChoice, score_choices_full, score_choices_shared
from harness.formulations.prompting import PromptFormat, prompt_ids, response_ids

SIDES = ("row", "question", "shared")


def _encode(tokenizer, questions, max_length: int) -> list[tuple[list[int], list[list[int]]]]:
    encoded = []
    for q in questions:
        choices = [response_ids(tokenizer, c, PromptFormat(), end=False) for c in q.choices]
        context = prompt_ids(tokenizer, q.question, PromptFormat())
        context = context[-max(max_length - max(map(len, choices)), 1) :]  # as build_multiple_choice cuts it
        encoded.append((context, choices))
    return encoded


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench multiple_choice", description=__doc__)
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name")
    parser.add_argument("--questions", type=int, default=None, help="TruthfulQA fold-0 dev questions (the first N; all 82)")
    parser.add_argument("--questions-per-call", type=int, default=16, help="questions per shared-prefix call")
    parser.add_argument("--rows-per-forward", type=int, default=MultipleChoice().choice_rows_per_forward)
    parser.add_argument("--max-length", type=int, default=TrainerConfig().max_length)
    parser.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR"))
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)

    questions = task_from_conf("truthfulqa_mc").load(Path(args.data_dir) if args.data_dir else None).dev[: args.questions]
    backbone = backbone_from_conf(args.model, with_lm_head=True)
    model, pad = backbone.model, backbone.tokenizer.pad_token_id
    encoded = _encode(backbone.tokenizer, questions, args.max_length)
    size = [len(ctx) + sum(map(len, chs)) for ctx, chs in encoded]  # evaluation's length key
    order = sorted(range(len(encoded)), key=lambda i: size[i], reverse=True)
    groups = [order[start : start + args.questions_per_call] for start in range(0, len(order), args.questions_per_call)]
    score_choices_full(model, *encoded[order[-1]], pad)  # warm-up, untimed

    def by_row(group):
        return [[score_choices_full(model, encoded[i][0], [choice], pad)[0] for choice in encoded[i][1]] for i in group]

    def by_question(group):
        return [score_choices_full(model, *encoded[i], pad) for i in group]

    def shared(group):
        contexts, choices = [encoded[i][0] for i in group], [encoded[i][1] for i in group]
        return score_choices_shared(model, contexts, choices, pad, args.rows_per_forward)

    run = {"row": by_row, "question": by_question, "shared": shared}
    scores: dict[str, dict[int, list[float]]] = {side: {} for side in SIDES}
    seconds = dict.fromkeys(SIDES, 0.0)
    for number, group in enumerate(groups):
        for side in SIDES[number % 3 :] + SIDES[: number % 3]:
            result, elapsed = timed_call(run[side], group)
            scores[side].update(zip(group, result))
            seconds[side] += elapsed

    def max_difference(side: str) -> float:
        return max(abs(a - b) for i in scores["row"] for a, b in zip(scores[side][i], scores["row"][i], strict=True))

    def best(side: str, i: int) -> int:
        return max(range(len(scores[side][i])), key=scores[side][i].__getitem__)

    n, rows_total = len(encoded), sum(len(chs) for _, chs in encoded)
    labels = {
        "row": "one choice per forward (question + choice alone)",
        "question": "one forward per question (all its choices, full sequences)",
        "shared": f"shared question prefix, {args.questions_per_call} questions per call",
    }
    table = ""
    for side in SIDES:
        difference = "-" if side == "row" else f"{max_difference(side):.2e}"
        flips = "-" if side == "row" else str(sum(best(side, i) != best("row", i) for i in range(n)))
        table += (
            f"| {labels[side]} | {seconds[side]:.1f} | {n / seconds[side]:.2f} | {seconds['row'] / seconds[side]:.2f}x "
            f"| {difference} | {flips} |\n"
        )
    ratio = seconds["row"] / seconds["shared"]
    difference = max(max_difference("shared"), max_difference("question"))
    text = header("multiple_choice") + (
        f"- model: {args.model} with its LM head; summed log-likelihood of each choice's tokens\n"
        f"- data: TruthfulQA fold-0 dev, first {n} questions, {rows_total} choices "
        f"({min(map(len, (c for c, _ in encoded)))}-{max(map(len, (c for c, _ in encoded)))} question tokens)\n\n"
        f"| scoring | seconds | questions / s | speed-up | max abs score difference from one per forward "
        f"| predictions that differ |\n|---|---|---|---|---|---|\n{table}\n"
        f"**ratio shared prefix / one choice per forward = {ratio:.2f}x** "
        f"(target >= 3x: {'met' if ratio >= 3 else 'NOT met'}); "
        f"**max abs score difference = {difference:.2e}** (must be < 1e-3: {'yes' if difference < 1e-3 else 'NO'})\n"
    )
    write_report("multiple_choice", text, args.out)
    return 0 if difference < 1e-3 else 1
