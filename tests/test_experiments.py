"""Every file in conf/experiment/ composes, validates and dry-runs on a tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import LoggerConfig, TrainerConfig, checked_dataclass, instantiate_group
from harness.models.backbone import ModelUnavailableError, model_info
from harness.run import run
from tests.composing import CONF, compose_config

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_validates(name):
    cfg = compose_config([f"+experiment={name}"])
    for group in ("task", "model", "method"):
        instantiate_group(cfg[group], group)
    checked_dataclass(TrainerConfig, cfg.trainer, "trainer")
    checked_dataclass(LoggerConfig, cfg.logger, "logger")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_dry_runs_on_a_tiny_model(name, tmp_path, data_root):
    cfg = compose_config([
        f"+experiment={name}", "model=tiny_mistral", "logger=csv", "trainer.fast_dev_run=true",
        "trainer.progress_bar=false", "trainer.precision=32-true", "task.max_train_examples=16",
        "task.max_eval_examples=16", f"paths.results_dir={tmp_path / 'r'}", f"paths.work_dir={tmp_path / 'o'}",
    ])  # fmt: skip
    result = run(cfg, experiment=name)
    assert result.status == "completed", result.error


def test_ner_mistral_is_the_papers_recipe():
    cfg = compose_config(["+experiment=ner_mistral"])
    assert cfg.model.path == "mistralai/Mistral-7B-v0.1"
    assert (cfg.method.r, cfg.method.alpha, list(cfg.method.target_modules)) == (64, 16, ["q_proj", "v_proj"])
    assert (cfg.method.lr, cfg.trainer.batch_size, cfg.trainer.accumulate_grad_batches) == (2e-4, 16, 4)
    assert cfg.trainer.max_epochs == 5 and cfg.task.max_train_examples is None


def test_unavailable_model_fails_with_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = instantiate_group(compose_config(["+experiment=ner_mistral"]).model, "model")
    with pytest.raises(ModelUnavailableError) as error:
        model_info(spec)
    message = str(error.value)
    assert "\n" not in message and "mistralai/Mistral-7B-v0.1" in message and "not available locally" in message
