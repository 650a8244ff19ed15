"""The budget in force is the one the most specific config names: the default run's budget
(conf/budget/quick.yaml) < a task's own YAML < an experiment < the command line; and the default
budget trains every task for at least a few hundred optimizer steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from harness.config import TrainerConfig, checked_dataclass, instantiate_group
from harness.run import run
from tests.composing import CONF, compose_config, quick_overrides

CONLL_TRAIN_SENTENCES = 14_041
MINIMUM_DEFAULT_STEPS = 200  # "a few hundred"


def _compose_with_extra_tasks(tmp_path: Path, task_yamls: dict[str, str], overrides: list[str]):
    """The project's config with more task YAMLs on Hydra's search path (as a user's own would be)."""
    (tmp_path / "task").mkdir(parents=True, exist_ok=True)
    for name, text in task_yamls.items():
        (tmp_path / "task" / f"{name}.yaml").write_text(text)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=[f"hydra.searchpath=[file://{tmp_path}]", *overrides])


OWN_BUDGET = """defaults:
  - conll2003_ner
  - _self_
name: conll_{name}
max_train_examples: {value}
"""


def _train_size(cfg, data_root: Path) -> int:
    return len(instantiate_group(cfg.task, "task").load(data_root).train)


def test_a_task_yaml_that_says_null_trains_on_all_its_data(tmp_path, data_root):
    cfg = _compose_with_extra_tasks(tmp_path, {"all": OWN_BUDGET.format(name="all", value="null")}, ["task=all"])
    assert cfg.task.max_train_examples is None
    assert _train_size(cfg, data_root) == CONLL_TRAIN_SENTENCES


def test_a_task_yaml_with_its_own_subset_keeps_it(tmp_path, data_root):
    cfg = _compose_with_extra_tasks(tmp_path, {"some": OWN_BUDGET.format(name="some", value="37")}, ["task=some"])
    assert _train_size(cfg, data_root) == 37
    again = _compose_with_extra_tasks(tmp_path, {}, ["task=some", "task.max_train_examples=50"])
    assert _train_size(again, data_root) == 50  # the command line overrides the task


def test_a_task_without_a_budget_gets_the_default_runs(data_root):
    cfg = compose_config(["task=conll2003_ner"])
    assert _train_size(cfg, data_root) == 800
    assert (cfg.trainer.min_steps, cfg.trainer.batch_size) == (200, 4)
    full = compose_config(["task=conll2003_ner", "budget=full"])
    assert _train_size(full, data_root) == CONLL_TRAIN_SENTENCES and full.trainer.min_steps is None


def test_an_experiment_states_its_budget_and_inherits_no_minimum(data_root):
    cfg = compose_config(["+experiment=ner_smollm2"])
    assert _train_size(cfg, data_root) == 2000
    assert cfg.trainer.min_steps is None and cfg.trainer.max_epochs == 1


@pytest.mark.parametrize("task", sorted(p.stem for p in (CONF / "task").glob("*.yaml")))
def test_the_default_budget_gives_every_task_a_few_hundred_steps(task, data_root):
    from harness.formulations.datamodule import ExampleData

    cfg = compose_config([f"task={task}"])
    trainer = checked_dataclass(TrainerConfig, cfg.trainer, "trainer")
    examples = _train_size(cfg, data_root)
    data = ExampleData({"train": [{}] * examples}, {"train": [1] * examples}, None, None, trainer.batch_size, 1, 0)
    per_epoch = data.optimizer_steps_per_epoch(world_size=1, accumulate_grad_batches=trainer.accumulate_grad_batches)
    assert trainer.epochs_for(per_epoch) * per_epoch >= MINIMUM_DEFAULT_STEPS, (task, examples, per_epoch)


def test_min_steps_adds_whole_epochs_and_the_record_says_how_many(tmp_path, data_root):
    # 16 examples in batches of 8: 2 steps an epoch; at least 5 steps -> 3 epochs, 6 steps.
    result = run(compose_config([*quick_overrides(tmp_path, train=16, evaluate=8), "trainer.min_steps=5"]))
    assert result.status == "completed", result.error
    (stage,) = result.stages
    assert (stage["epochs"], stage["optimizer_steps"]) == (3, 6)
    assert result.config["trainer"]["min_steps"] == 5 and result.config["task"]["max_train_examples"] == 16


def test_min_steps_never_shortens_training():
    assert TrainerConfig(max_epochs=4, min_steps=5).epochs_for(steps_per_epoch=10) == 4
    assert TrainerConfig(max_epochs=1, min_steps=None).epochs_for(steps_per_epoch=10) == 1
    assert TrainerConfig(max_epochs=1, min_steps=25).epochs_for(steps_per_epoch=10) == 3


def test_a_minimum_of_zero_steps_is_refused_naming_the_key():
    from harness.config import ConfigError

    with pytest.raises(ConfigError, match="trainer.min_steps"):
        checked_dataclass(TrainerConfig, compose_config(["trainer.min_steps=0"]).trainer, "trainer")


def test_early_stopping_ends_training_after_its_patience_in_dev_evaluations(tmp_path, data_root):
    # Four dev evaluations an epoch, a learning rate of 0 (dev never improves after the first
    # evaluation), patience 2: training stops at the third evaluation, inside epoch 1 of 5.
    result = run(compose_config([
        *quick_overrides(tmp_path, train=32, evaluate=8), "trainer.max_epochs=5", "trainer.val_check_interval=0.25",
        "trainer.early_stopping_patience=2", "method.lr=0.0",
    ]))  # fmt: skip
    assert result.status == "completed", result.error
    (stage,) = result.stages
    assert stage["stopped_early"] and len(stage["dev_history"]) == 3
    assert stage["optimizer_steps"] == 3  # 4 steps an epoch (32 examples, batch 8): evaluations at 1, 2, 3
