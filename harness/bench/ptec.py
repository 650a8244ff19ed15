"""PTEC's inference cost against text-to-text prompt tuning, measured side by side in one run.

Three sides over the same hate-speech test texts, the same backbone weights and the same soft
prompt length m, each through its formulation's own evaluation code (what a run's test pass calls):

- **PTEC**: `sequence_classification` with `ptec`: one forward pass of [prompt; text] through the
  frozen model, the classification head on the last real token (`SequenceClassifier.predict`);
- **PT**: `label_generation` with the soft prompt: greedy generation of the label list with the
  KV cache, stopping at EOS or a line break (`LabelGenerator.predict`);
- **PT + trie**: the same model and prompts, decoding constrained by `pt_trie`'s label trie.

Latency per example is measured one example per call (batch 1) over the first
``--latency-examples`` texts; throughput (examples/s) over all ``--examples`` texts in evaluation
batches of ``--batch-size``, sorted by length as evaluation sorts them. Sides alternate within
each round (the order rotates), ``--rounds`` rounds after one untimed warm-up batch per side; the
figures are medians over rounds. Target: PTEC's latency at most 0.2x PT + trie's.

How many tokens the generating sides write decides their cost, and an untrained prompt writes
whatever it writes (often the whole token budget). So with ``--trained RESULTS_DIR`` (what
sweeps/ptec_smollm2.sh passes) each side loads the trained soft prompt (and PTEC its head) of its
completed run in that folder (seed ``--trained-seed``, the same m), from the run's best checkpoint
under ``--work-dir``: the generating sides then write what the trained models write in the
sweep's test pass. Without it the prompts and head are untrained, and the report gives the generated
tokens per example beside the gold label lists' length (what a trained model would write).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import torch

from harness.bench.common import backbone_from_conf, header, method_from_conf, task_from_conf, timed_call, write_report
from harness.config import TrainerConfig
from harness.formulations.label_generation import LabelGeneration
from harness.formulations.label_list import LabelListIds
from harness.formulations.sequence_classification import SequenceClassification
from harness.methods.context import MethodContext

SIDES = ("PTEC", "PT", "PT + trie")
TARGET = 0.2


def _adapted(model_name: str, method, labels: list[str], formulation: str, with_lm_head: bool):
    backbone = backbone_from_conf(model_name, with_lm_head=with_lm_head)
    context = MethodContext(info=backbone.info, formulation=formulation, tokenizer=backbone.tokenizer, labels=labels)
    backbone.model = method.apply(backbone.model, context)
    return backbone


def trained_run(results_dir: Path, work_dir: Path, method: str, m: int, seed: int) -> tuple[str, Path]:
    """The run id and best checkpoint of the completed `method` run with m virtual tokens and this seed."""
    for path in sorted(results_dir.rglob("result.json")):
        record = json.loads(path.read_text())
        config = record.get("config", {}).get("method", {})
        if (record.get("status"), record.get("method"), record.get("seed"), config.get("num_virtual_tokens")) == (
            "completed", method, seed, m,
        ):
            found = sorted((work_dir / record["sweep"] / record["run_id"]).glob("*/checkpoints/best.ckpt"))
            if not found:
                raise SystemExit(f"--trained: run {record['run_id']} ({path}) has no best checkpoint under "
                                 f"{work_dir / record['sweep'] / record['run_id']}")
            return record["run_id"], found[-1]
    raise SystemExit(f"--trained: no completed {method} run with seed {seed} and num_virtual_tokens {m} under {results_dir}")


def load_trained(module, checkpoint: Path) -> None:
    """Put a run's trained parameters (all a checkpoint holds) into the freshly built module."""
    trained = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    own = module.state_dict()
    wrong = [k for k, v in trained.items() if k not in own or own[k].shape != v.shape]
    if wrong:
        raise SystemExit(f"--trained: {checkpoint} holds parameters this side does not have: {wrong[:3]}")
    module.load_state_dict(trained, strict=False)


def _on(batch: dict, device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _batches(data, size: int, limit: int | None = None) -> list[dict]:
    data.eval_batch_size = size
    batches = list(data.test_dataloader())
    return batches[:limit] if limit is not None else batches


def trained_note(trained_from: dict[str, str], args: argparse.Namespace, gold_tokens: float) -> str:
    if not trained_from:
        return (f"Prompts and head are untrained (cost, not quality): a trained PT writes about the gold label "
                f"lists' {gold_tokens:.1f} tokens per example (and EOS); the generating sides above wrote what the "
                "untrained prompt made them write.")
    runs = ", ".join(f"{side} {run_id}" for side, run_id in trained_from.items())
    return (f"Trained prompts and head: each side's seed-{args.trained_seed} run in {args.trained} (run ids: {runs}), "
            f"best checkpoints; the gold label lists hold {gold_tokens:.1f} tokens per example (EOS not counted).")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench ptec", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name")
    parser.add_argument("--task", default="hatespeech", help="a conf/task name (multi-label text classification)")
    parser.add_argument("--examples", type=int, default=128, help="test texts for throughput (a fixed random subset)")
    parser.add_argument("--latency-examples", type=int, default=32, help="of those, texts timed one per call")
    parser.add_argument("--train", type=int, default=64, help="train texts read (pos_weight, nothing trains)")
    parser.add_argument("--batch-size", type=int, default=8, help="evaluation batch for throughput")
    parser.add_argument("--max-length", type=int, default=64, help="text tokens (hatespeech_smollm2's budget)")
    parser.add_argument("--virtual-tokens", type=int, default=16, help="m, the soft prompt's length")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="label_generation's budget")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR"))
    parser.add_argument("--trained", type=Path, default=None, metavar="RESULTS_DIR",
                        help="load each side's trained prompt (and head) from its completed run here")
    parser.add_argument("--trained-seed", type=int, default=1, help="which seed's runs --trained loads")
    parser.add_argument("--work-dir", type=Path, default=Path("outputs"), help="where the runs' checkpoints are")
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)

    task = task_from_conf(args.task, max_train_examples=args.train, max_eval_examples=args.examples)
    task_data = task.load(Path(args.data_dir) if args.data_dir else None)
    labels = list(task_data.labels)
    trainer_cfg = TrainerConfig(max_length=args.max_length, eval_batch_size=args.batch_size, precision="32-true")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)

    ptec = method_from_conf("ptec", num_virtual_tokens=args.virtual_tokens)
    classifier = _adapted(args.model, ptec, labels, "sequence_classification", with_lm_head=False)
    ptec_module, ptec_data = SequenceClassification().build(task, task_data, classifier, ptec, trainer_cfg, 0, None)
    trie_method = method_from_conf("pt_trie", num_virtual_tokens=args.virtual_tokens)
    generator = _adapted(args.model, trie_method, labels, "label_generation", with_lm_head=True)
    spec = LabelGeneration(max_new_tokens=args.max_new_tokens)
    trie_module, gen_data = spec.build(task, task_data, generator, trie_method, trainer_cfg, 0, None)
    free_method = method_from_conf("pt", num_virtual_tokens=args.virtual_tokens)
    # Untrained, both generating sides share one model (only the logits processors differ); trained,
    # each has its own prompt.
    free_generator = _adapted(args.model, free_method, labels, "label_generation", True) if args.trained else generator
    free_module, _ = spec.build(task, task_data, free_generator, free_method, trainer_cfg, 0, None)
    modules = {"PTEC": ptec_module, "PT": free_module, "PT + trie": trie_module}
    trained_from = {}
    if args.trained is not None:
        for side, method in (("PTEC", "ptec"), ("PT", "pt"), ("PT + trie", "pt_trie")):
            run_id, checkpoint = trained_run(args.trained, args.work_dir, method, args.virtual_tokens, args.trained_seed)
            load_trained(modules[side], checkpoint)
            trained_from[side] = run_id
    for module in modules.values():
        module.eval().to(device)
    data = {"PTEC": ptec_data, "PT": gen_data, "PT + trie": gen_data}

    def run(side: str, batches: list[dict]) -> tuple[float, int]:
        """Seconds for these batches, and tokens the side generated."""
        total, generated = 0.0, 0
        for batch in batches:
            with torch.inference_mode():
                _, seconds = timed_call(modules[side].predict, _on(batch, device))
            total += seconds
            generated += getattr(modules[side], "generated_in_last_batch", 0) if side != "PTEC" else 0
        return total, generated

    throughput = {side: _batches(data[side], args.batch_size) for side in SIDES}
    single = {side: _batches(data[side], 1, args.latency_examples) for side in SIDES}
    n_all, n_one = len(task_data.test), len(single["PTEC"])
    for side in SIDES:
        run(side, throughput[side][-1:])  # warm-up, untimed
    seconds = {(side, kind): [] for side in SIDES for kind in ("one", "all")}
    tokens = {side: 0 for side in SIDES}
    for number in range(args.rounds):
        order = SIDES[number % 3 :] + SIDES[: number % 3]
        for side in order:
            elapsed, _ = run(side, single[side])
            seconds[(side, "one")].append(elapsed / n_one)
            elapsed, generated = run(side, throughput[side])
            seconds[(side, "all")].append(elapsed)
            tokens[side] = generated  # the same every round (greedy)
    latency = {side: statistics.median(seconds[(side, "one")]) for side in SIDES}
    per_second = {side: n_all / statistics.median(seconds[(side, "all")]) for side in SIDES}
    ratio = round(latency["PTEC"] / latency["PT + trie"], 2)  # decided as reported

    ids = LabelListIds.build(classifier.tokenizer, labels)
    index = {label: i for i, label in enumerate(labels)}
    gold = [len(ids.response([index[label] for label in e.labels])) - 1 for e in task_data.test]  # EOS not counted
    gold_tokens = statistics.mean(gold)
    rows = []
    for side in SIDES:
        written = tokens[side] / n_all if side != "PTEC" else 0.0
        rows.append(
            f"| {side} | {1000 * latency[side]:.1f} | {per_second[side]:.1f} | {written:.1f} | "
            f"{latency[side] / latency['PT + trie']:.2f}x |"
        )
    info = classifier.info
    lines = [
        header("ptec"),
        f"- model: {args.model} ({info.num_layers} layers, hidden {info.hidden_size}); soft prompt m = {args.virtual_tokens}; "
        f"task {args.task} ({len(labels)} labels), texts cut to {args.max_length} tokens",
        f"- latency: {n_one} test texts one per call; throughput: {n_all} test texts in batches of {args.batch_size}; "
        f"{args.rounds} rounds after a warm-up, sides alternating, medians; no grad",
        f"- generation: greedy, at most {args.max_new_tokens} new tokens, KV cache, stop at EOS or a line break",
        "",
        f"## Inference cost (target: PTEC latency at most {TARGET}x PT + trie's)",
        "",
        "| side | ms per example (batch 1) | examples/s (batched) | generated tokens / example (EOS not counted) | latency / PT + trie |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"**PTEC latency / PT + trie latency = {ratio:.2f}x** (target <= {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'})",
        "",
        trained_note(trained_from, args, gold_tokens),
        "",
    ]  # fmt: skip
    write_report("ptec", "\n".join(lines), args.out)
    return 0
