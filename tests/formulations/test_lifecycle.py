"""The shared lifecycle's dev history: every dev evaluation inside fit records the training
examples seen so far (the learning curves' x axis), and a resumed run continues the count."""

from __future__ import annotations

from types import SimpleNamespace

from torch import nn

from harness.formulations.lifecycle import FormulationModule
from harness.run import run
from tests.composing import compose_config, quick_overrides


def test_dev_history_counts_training_examples_seen(tmp_path, data_root):
    # 48 training sentences in batches of 8: dev after 3 batches and after 6, twice per epoch.
    cfg = compose_config([
        *quick_overrides(tmp_path, train=48, evaluate=16), "trainer.max_epochs=2", "trainer.val_check_interval=0.5",
    ])  # fmt: skip
    result = run(cfg)
    assert result.status == "completed", result.error
    (stage,) = result.stages
    history = stage["dev_history"]
    assert [entry["step"] for entry in history] == [3, 6, 9, 12]
    assert [entry["examples_seen"] for entry in history] == [24, 48, 72, 96]
    assert all(0.0 <= entry["span_f1"] <= 1.0 for entry in history)


def test_dev_is_scored_at_the_end_of_training_whatever_the_schedule(tmp_path, data_root):
    # 80 training sentences in batches of 8 = 10 batches; Lightning validates every int(10 x 0.34) = 3
    # batches (3, 6, 9) and not at the epoch's end: the end of training is scored too (10), once.
    cfg = compose_config([
        *quick_overrides(tmp_path, train=80, evaluate=16), "trainer.max_epochs=1", "trainer.val_check_interval=0.34",
    ])  # fmt: skip
    (stage,) = run(cfg).stages
    assert [entry["step"] for entry in stage["dev_history"]] == [3, 6, 9, 10]


def test_a_step_budget_ending_between_evaluations_is_scored_at_its_end(tmp_path, data_root):
    cfg = compose_config([
        *quick_overrides(tmp_path, train=80, evaluate=16), "trainer.max_epochs=1", "trainer.val_check_interval=0.34",
        "trainer.max_steps=5",
    ])  # fmt: skip
    (stage,) = run(cfg).stages
    assert [entry["step"] for entry in stage["dev_history"]] == [3, 5] and stage["optimizer_steps"] == 5


def test_the_count_travels_with_the_checkpoint():
    module = FormulationModule(nn.Linear(2, 2), SimpleNamespace(lr=0.1), "span_f1")
    module.examples_seen = 40
    module.dev_history = [{"step": 5, "examples_seen": 40, "span_f1": 0.5}]
    checkpoint = {"state_dict": {}}
    module.on_save_checkpoint(checkpoint)

    resumed = FormulationModule(nn.Linear(2, 2), SimpleNamespace(lr=0.1), "span_f1")
    resumed.on_load_checkpoint(checkpoint)
    assert resumed.examples_seen == 40 and resumed.dev_history == module.dev_history
