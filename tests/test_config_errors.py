"""Bad config fails at start with one line naming the key and what is allowed."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from harness.config import ConfigError, LoggerConfig, TrainerConfig, checked_dataclass, instantiate_group
from tests.composing import compose_config


def _method(overrides):
    return instantiate_group(compose_config(overrides).method, "method")


def test_unknown_method_key_names_it_and_lists_allowed():
    with pytest.raises(ConfigError, match=r"method\.rank: unknown key; allowed keys: name, r, alpha"):
        _method(["+method.rank=4"])


def test_wrong_type_names_the_key():
    cfg = compose_config(["trainer.batch_size=sixteen"])
    with pytest.raises(ConfigError, match=r"trainer\.batch_size: Value 'sixteen'"):
        checked_dataclass(TrainerConfig, cfg.trainer, "trainer")


def test_impossible_value_names_the_key():
    with pytest.raises(ConfigError, match=r"method\.r: must be >= 1, got 0"):
        _method(["method.r=0"])
    with pytest.raises(ConfigError, match=r"model\.dtype: 'float8' is not one of"):
        instantiate_group(compose_config(["model.dtype=float8"]).model, "model")
    for interval in ("2.5", "0"):
        with pytest.raises(ConfigError, match=r"trainer\.val_check_interval: .* must be a fraction of an epoch in \(0, 1\]"):
            checked_dataclass(TrainerConfig, compose_config([f"trainer.val_check_interval={interval}"]).trainer, "trainer")
    with pytest.raises(ConfigError, match=r"logger\.wandb_mode"):
        checked_dataclass(LoggerConfig, OmegaConf.create({"wandb_mode": "sometimes"}), "logger")


def test_missing_target_is_explained():
    with pytest.raises(ConfigError, match=r"task: no `_target_`"):
        instantiate_group(OmegaConf.create({"name": "x"}), "task")
    with pytest.raises(ConfigError, match=r"task\._target_: cannot import 'harness.tasks.nope.Task'"):
        instantiate_group(OmegaConf.create({"_target_": "harness.tasks.nope.Task"}), "task")
