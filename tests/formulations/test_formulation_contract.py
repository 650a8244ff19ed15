"""Every formulation in conf/formulation/ x every method that supports it x each tiny decoder
family, end to end through `harness.run.run` on real data (tiny subsets): one training step (none
for evaluate-only methods), dev and test evaluation, and a predictions.jsonl with one line per
dev and test example whose ids are the examples'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.run import run
from tests.composing import CONF, compose_config, quick_overrides
from tests.tiny_models import FAMILIES, attention_for_method, method_files, method_from_yaml

# One real task for each formulation (its kind's default formulation).
TASK_FOR = {
    "token_classification": "conll2003_ner",
    "sequence_classification": "hatespeech",
    "generation": "clutrr",
    "multiple_choice": "truthfulqa_mc",
    "span_generation": "conll2003_ner",
    "label_generation": "hatespeech",
}
FORMULATIONS = sorted(p.stem for p in (CONF / "formulation").glob("*.yaml"))
TRAIN, EVALUATE = 8, 4


def _combinations():
    for formulation in FORMULATIONS:
        for path in method_files():
            method = method_from_yaml(path)
            if formulation in method.formulations and _attention_allows(path, formulation):
                yield formulation, path.stem


def _attention_allows(path: Path, formulation: str) -> bool:
    """Presets with unmasked layers pose classification only (they refuse the rest at start)."""
    return attention_for_method(path).is_causal or formulation.endswith("classification")


def test_every_formulation_has_a_task_here():
    assert set(FORMULATIONS) == set(TASK_FOR)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(("formulation", "method"), list(_combinations()))
def test_formulation_contract(tmp_path, data_root, formulation, method, family):
    overrides = quick_overrides(tmp_path, model=family, train=TRAIN, evaluate=EVALUATE)
    cfg = compose_config([
        *overrides, f"task={TASK_FOR[formulation]}", f"formulation={formulation}", f"method={method}",
        "trainer.max_steps=1", "trainer.batch_size=4", "trainer.max_length=96", f"paths.data_dir={data_root}",
    ])  # fmt: skip
    if formulation in ("generation", "span_generation", "label_generation"):
        cfg.formulation.max_new_tokens = 3
    if method in ("bidir",):
        cfg.attention.group_size = 1  # a 4-bit pattern on the tiny 4-layer models
    result = run(cfg)
    assert result.status == "completed", result.error and result.error["traceback"]
    assert result.formulation == formulation
    for split in ("dev", "test"):
        assert result.primary_metric in result.metrics[split]
    trained = result.stages[0]["trained"]
    assert trained == bool(method_from_yaml(CONF / "method" / f"{method}.yaml").stages)  # zero_shot, icl: none
    assert (result.cost.trainable_params > 0) == trained
    demonstrated = method in ("icl", "sift")
    if demonstrated:  # demonstration counts land in each split's metrics, the ids shown in each row
        for split in ("dev", "test"):
            assert {"demonstrations_shown_mean", "demonstrations_dropped"} <= set(result.metrics[split])
        # a split that dropped demonstrations for length says so in the record's warnings, and only it
        dev = result.metrics["dev"]
        dropping = [s for s, n in [("train", dev.get("train_demonstrations_dropped", 0)),
                                   ("dev", dev["demonstrations_dropped"]),
                                   ("test", result.metrics["test"]["demonstrations_dropped"])] if n]  # fmt: skip
        assert [w.split(":")[0] for w in result.warnings if "dropped for length" in w] == dropping

    lines = (tmp_path / "results" / "default" / result.run_id / "predictions.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["split"] for r in rows].count("dev") == EVALUATE
    assert [r["split"] for r in rows].count("test") == EVALUATE
    assert all({"id", "gold", "prediction", "score"} <= set(r) for r in rows)
    assert all(("demonstrations" in r) == demonstrated for r in rows)
    assert len({(r["split"], r["id"]) for r in rows}) == len(rows)  # one line per example
    assert result.cost.eval_examples_per_second > 0 and result.cost.eval_seconds_per_example > 0


def test_impossible_combination_fails_before_weights_load(tmp_path, data_root):
    cfg = compose_config([
        *quick_overrides(tmp_path), "task=clutrr", "method=linear_probe", f"paths.data_dir={data_root}",
    ])  # fmt: skip
    result = run(cfg)
    assert result.status == "failed"
    assert "method=linear_probe: formulation 'generation' is not supported" in result.error["message"]
    assert result.data_hash == ""  # failed at the check, before reading data or loading weights
    cfg = compose_config([*quick_overrides(tmp_path), "task=clutrr", "formulation=token_classification"])
    result = run(cfg)
    assert "formulation=token_classification: cannot pose task 'clutrr'" in result.error["message"]
    cfg = compose_config([*quick_overrides(tmp_path), "task=clutrr", "method=lora", "attention=unmasked"])
    result = run(cfg)
    assert "attention=unmasked: unmasked layers cannot pose formulation 'generation'" in result.error["message"]


@pytest.mark.parametrize("task", sorted(p.stem for p in (CONF / "task").glob("*.yaml")))
def test_each_task_yaml_names_its_kinds_default_formulation(task):
    from harness.config import instantiate_group
    from harness.formulations.registry import default_formulation

    cfg = compose_config([f"task={task}"])
    kind = instantiate_group(cfg.task, "task").kind
    assert cfg.formulation.name == default_formulation(kind)
    formulation = instantiate_group(cfg.formulation, "formulation")
    assert kind in formulation.task_kinds
