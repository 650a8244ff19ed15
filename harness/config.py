"""Shared schema pieces (trainer, logger, paths) and strict validation of every config group.

Tasks, models and methods own their schemas: the dataclass named by `_target_` in their YAML.
Here each group node is checked against its dataclass with OmegaConf's structured merge, which
rejects unknown keys and wrong types and names the key; values are then checked by the
dataclass's own `__post_init__`. Errors become `ConfigError`, one line naming `group.key`.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

PRECISIONS = ("auto", "32-true", "bf16-mixed", "bf16-true", "16-mixed")  # auto: harness.formulations.precision


class ConfigError(ValueError):
    """A config that cannot run: names the key and what is allowed."""


@dataclass
class TrainerConfig:
    """How to train: budget, batching, optimisation, hardware (Lightning Trainer settings)."""

    max_epochs: int = 1
    """Epochs over the training split."""
    max_steps: int = -1
    """Stop after this many optimizer steps (-1: no limit)."""
    min_steps: Optional[int] = None
    """Train more whole epochs than max_epochs when needed to make at least this many optimizer
    steps (a small training subset still gets a real training run); null: max_epochs decides."""
    batch_size: int = 16
    """Sequences per training micro-batch, in each process (DDP ranks each take their own)."""
    eval_batch_size: int = 64
    """Sequences per evaluation batch, in each process (DDP ranks each evaluate their own examples)."""
    accumulate_grad_batches: int = 1
    """Micro-batches per optimizer step (effective batch = batch_size x this x devices x num_nodes)."""
    weight_decay: float = 0.0
    """AdamW weight decay (not applied to biases and norms)."""
    warmup_ratio: float = 0.1
    """Fraction of optimizer steps with linear warmup; linear decay to 0 after."""
    gradient_clip_val: Optional[float] = 1.0
    """Gradient norm clipping (null: none)."""
    dropout: float = 0.1
    """Dropout before the task head."""
    precision: str = "auto"
    """Lightning precision: 32-true, bf16-mixed (bf16 autocast), bf16-true (bf16 weights), 16-mixed,
    or auto (bf16-mixed where the hardware computes bf16 natively, else 32-true; resolved before
    the run's id, so the record holds what ran)."""
    accelerator: str = "auto"
    """cpu, gpu or auto."""
    devices: Any = 1
    """Number of devices (or 'auto', or a list of indices)."""
    strategy: str = "auto"
    """Lightning strategy: auto, ddp (on CPU too: trainer=ddp_cpu), fsdp (CUDA GPUs only), deepspeed...
    Not ddp_spawn / ddp_fork / ddp_notebook: the harness runs every rank as a whole process."""
    num_nodes: int = 1
    """Nodes for multi-node training."""
    max_length: int = 128
    """Maximum sequence length in tokens (longer inputs are truncated)."""
    length_grouping: bool = True
    """Group similar lengths into batches (less padding)."""
    pad_to_max_length: bool = False
    """Pad every batch to max_length (the slow baseline; for benchmarks)."""
    check_val_every_n_epoch: int = 1
    """Dev evaluation frequency in epochs (model selection uses these evaluations)."""
    val_check_interval: Optional[float] = None
    """Evaluate on dev every this fraction of an epoch (null: once per epoch)."""
    deterministic: bool = True
    """torch deterministic algorithms (same seed -> same result)."""
    num_workers: int = 0
    """DataLoader worker processes."""
    log_every_n_steps: int = 10
    """Logging interval in optimizer steps."""
    progress_bar: bool = True
    """Lightning's rich progress bar."""
    fast_dev_run: bool = False
    """One batch of train/dev/test, for smoke tests."""
    checkpoint_every_n_steps: Optional[int] = None
    """Also checkpoint every N optimizer steps, to resume mid-epoch (null: at epoch ends only)."""
    early_stopping_patience: Optional[int] = None
    """Stop when this many dev evaluations in a row bring no improvement (max_epochs stays the
    cap; null: train the full budget). Counts evaluations, so it follows val_check_interval."""

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"trainer.precision: {self.precision!r} is not one of {list(PRECISIONS)}")
        if self.min_steps is not None and self.min_steps < 1:
            raise ConfigError(f"trainer.min_steps: {self.min_steps} must be a positive number of steps, or null")
        if self.val_check_interval is not None and not 0 < self.val_check_interval <= 1:
            # Lightning reads a float above 1 as an error and names none of the config.
            raise ConfigError(
                f"trainer.val_check_interval: {self.val_check_interval} must be a fraction of an epoch in (0, 1],"
                " or null; for dev less often than once an epoch use trainer.check_val_every_n_epoch"
            )
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ConfigError(
                f"trainer.early_stopping_patience: {self.early_stopping_patience} must be a positive number of dev evaluations, or null"
            )
        self._check_strategy()

    def _check_strategy(self) -> None:
        """Strategies the harness cannot run, refused before weights load, naming what would run."""
        strategy = str(self.strategy)
        if strategy.startswith("fsdp") and str(self.accelerator) not in ("gpu", "cuda"):
            # Lightning's FSDP needs CUDA (it refuses even accelerator=auto on a GPU machine).
            raise ConfigError(
                f"trainer.strategy={strategy} needs CUDA GPUs (trainer.accelerator=gpu), got"
                f" trainer.accelerator={self.accelerator}; on CPU use trainer=ddp_cpu (data parallel)"
            )
        if strategy.startswith(("ddp_spawn", "ddp_fork", "ddp_notebook")):
            # Those run only fit() in new processes: costs, predictions and dev selection made there
            # would not reach the record.
            raise ConfigError(
                f"trainer.strategy={strategy} is not supported: the harness runs each rank as a whole"
                " process; use trainer.strategy=ddp (trainer=ddp_cpu on CPU, trainer=ddp on GPUs)"
            )

    def epochs_for(self, steps_per_epoch: int) -> int:
        """Epochs to train: max_epochs, or more whole epochs when min_steps asks for more steps."""
        if self.min_steps is None or steps_per_epoch < 1 or self.max_epochs == -1:
            return self.max_epochs
        return max(self.max_epochs, -(-self.min_steps // steps_per_epoch))


@dataclass
class LoggerConfig:
    """Where metrics go besides result.json: W&B (offline by default) and CSV."""

    wandb: bool = True
    """Log to Weights & Biases."""
    wandb_mode: str = "offline"
    """offline (sync later with `wandb sync`), online, or disabled."""
    project: str = "harness"
    """W&B project."""
    entity: Optional[str] = None
    """W&B entity (team); null: your default."""
    csv: bool = True
    """Lightning CSV logger beside W&B."""

    def __post_init__(self) -> None:
        if self.wandb_mode not in ("offline", "online", "disabled"):
            raise ConfigError(f"logger.wandb_mode: {self.wandb_mode!r} is not one of offline, online, disabled")


@dataclass
class PathsConfig:
    """Where data is read and results, logs and caches are written."""

    data_dir: Optional[str] = None
    """Benchmark data root (HARNESS_DATA_DIR); null: the Hugging Face Hub datasets."""
    results_dir: str = "results"
    """Result records: <results_dir>/<sweep>/<run_id>/result.json."""
    work_dir: str = "outputs"
    """Checkpoints, W&B and CSV logs: <work_dir>/<sweep>/<run_id>/."""
    cache_dir: Optional[str] = None
    """Dequantized models and tokenized splits (null: HARNESS_CACHE_DIR or ~/.cache/harness)."""


def boolean_flag(cfg: Any, key: str, default: bool) -> bool:
    """A top-level true/false setting (e.g. evaluate_test), refusing anything else by name."""
    value = cfg.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


def checked_dataclass(cls: type, node: Any, group: str) -> Any:
    """Build `cls` from a config node, failing on unknown keys, wrong types and bad values."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), node if node is not None else {})
        values = OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as error:
        raise ConfigError(_describe(error, group, cls)) from None
    try:
        return cls(**values)
    except (ValueError, TypeError) as error:
        raise ConfigError(_prefixed(str(error), group)) from None


def instantiate_group(node: DictConfig, group: str) -> Any:
    """Instantiate a `_target_` group (task, model, method) with the same strict checks."""
    if node is None or "_target_" not in node:
        raise ConfigError(f"{group}: no `_target_` naming its schema class (is the config group selected?)")
    target = node["_target_"]
    module_name, _, class_name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise ConfigError(f"{group}._target_: cannot import {target!r}") from None
    # `defaults` is Hydra's (a method YAML names its attention there); it is not a schema key.
    body = {
        k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if not k.startswith("_") and k != "defaults"
    }
    if dataclasses.is_dataclass(cls):
        return checked_dataclass(cls, body, group)
    raise ConfigError(f"{group}._target_: {target!r} is not a dataclass schema")


def _describe(error: OmegaConfBaseException, group: str, cls: type) -> str:
    key = getattr(error, "full_key", None) or "?"
    message = str(error).splitlines()[0]
    if "not in" in message and dataclasses.is_dataclass(cls):
        allowed = ", ".join(f.name for f in dataclasses.fields(cls))
        return f"{group}.{key}: unknown key; allowed keys: {allowed}"
    return f"{group}.{key}: {message}"


def _prefixed(message: str, group: str) -> str:
    first = message.splitlines()[0] if message else "invalid value"
    return first if first.startswith(f"{group}.") else f"{group}: {first}"
