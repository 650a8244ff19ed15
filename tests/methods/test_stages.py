"""The method contract's optional parts through a real run: two stages whose cost is summed and
kept per stage, the first stage's dev-selected weights handed to the second, test evaluated once
after the last stage, a loss term in the logged loss, learning rates per parameter group, and
artefacts kept with the record."""

from __future__ import annotations

import csv
import json

import torch

from harness.formulations.lifecycle import FormulationModule
from harness.run import run
from tests.composing import compose_config, quick_overrides
from tests.methods.staged_method import SELECT_PARAMETER

DEV = 16


def _run(tmp_path, data_root, extra=()):
    cfg = compose_config([
        *quick_overrides(tmp_path, train=32, evaluate=DEV), "method=zero_shot", f"paths.data_dir={data_root}",
        "method._target_=tests.methods.staged_method.TwoStage", "method.name=two_stage", "method.lr=0.01",
        "trainer.max_epochs=2", "trainer.log_every_n_steps=1", *extra,
    ])  # fmt: skip
    return run(cfg)


def test_two_stages_sum_cost_hand_on_selected_weights_and_test_once(tmp_path, data_root):
    result = _run(tmp_path, data_root)
    assert result.status == "completed", result.error and result.error["traceback"]
    select, train = result.stages
    assert (select["name"], train["name"]) == ("select", "train")
    assert result.cost.train_seconds == select["train_seconds"] + train["train_seconds"]
    assert result.cost.peak_memory_bytes == max(select["peak_memory_bytes"], train["peak_memory_bytes"])
    # Dev twice per stage (two epochs); test once, after the last stage only.
    assert select["eval_examples"] == 2 * DEV
    assert train["eval_examples"] == 2 * DEV + DEV
    assert set(result.metrics) == {"dev", "test"}

    # The second stage starts from the first stage's dev-selected checkpoint, not its last weights.
    out = tmp_path / "results" / "default" / result.run_id
    assert result.artefacts == ["artefacts/select.json", "artefacts/train.json"]
    handed_on = json.loads((out / "artefacts" / "train.json").read_text())["select_weight_sum"]
    best = torch.load(
        tmp_path / "outputs" / "default" / result.run_id / "select" / "checkpoints" / "best.ckpt", weights_only=True
    )
    selected = best["state_dict"][f"backbone.{SELECT_PARAMETER}"].double().sum().item()
    assert abs(handed_on - selected) < 1e-6

    # The loss term is logged beside the task loss in stage 1 (and absent in stage 2).
    with open(tmp_path / "outputs" / "default" / result.run_id / "csv" / "version_0" / "metrics.csv") as handle:
        columns = next(csv.reader(handle))
    assert "train/loss_term" in columns and "train/task_loss" in columns


def test_method_learning_rates_per_parameter_group(tmp_path, data_root):
    seen = {}
    original = FormulationModule.configure_optimizers

    def spy(self):
        payload = original(self)
        names = {id(p): n for n, p in self.named_parameters()}
        for group in payload["optimizer"].param_groups:
            for parameter in group["params"]:
                seen[names[id(parameter)]] = group["lr"]
        return payload

    FormulationModule.configure_optimizers = spy
    try:
        result = _run(tmp_path, data_root, extra=["trainer.max_epochs=1"])
    finally:
        FormulationModule.configure_optimizers = original
    assert result.status == "completed", result.error
    assert seen["head.weight"] == seen["head.bias"] == 5e-3
    assert seen[f"backbone.{SELECT_PARAMETER}"] == 0.01
