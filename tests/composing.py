"""Composing the project's Hydra config in tests, as `python -m harness` would."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir

CONF = Path(__file__).resolve().parents[1] / "conf"


def compose_config(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def quick_overrides(tmp_path: Path, model: str = "tiny_llama", train: int = 48, evaluate: int = 32) -> list[str]:
    """A run small enough for a test: tiny model, tiny subsets, CSV logging, files under tmp_path."""
    return [
        f"model={model}",
        "budget=full",  # the budget is the subsets below, one epoch (no minimum number of steps)
        "trainer.precision=32-true",  # the same numbers on every machine, bf16 or not
        "logger=csv",
        f"task.max_train_examples={train}",
        f"task.max_eval_examples={evaluate}",
        "trainer.max_epochs=1",
        "trainer.batch_size=8",
        "trainer.progress_bar=false",
        f"paths.results_dir={tmp_path / 'results'}",
        f"paths.work_dir={tmp_path / 'outputs'}",
    ]
