"""What a run is before it runs: its resolved config (with `trainer.precision: auto` replaced by what
it means on this machine), the task's data, the model's fingerprint, and the id all of them make.

The data and the model's files take part in the id (`results.identity`): other files under the same
config are another run, never a skip with the old record's scores. Reading either may fail; the
failure is kept, not raised, so that `run.py` records it inside the run like any other error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from harness.config import PathsConfig, instantiate_group
from harness.formulations.precision import resolve_precision
from harness.models.backbone import default_cache_dir
from harness.models.fingerprint import model_fingerprint
from harness.results.identity import run_id


@dataclass
class RunInputs:
    resolved: dict[str, Any]  # the config as it runs, for the record and the id
    data: Any  # TaskData, or the exception reading it raised
    model_hash: str | Exception
    precision: str | Exception  # what runs and why, e.g. "bf16-mixed (auto: CPU with native bf16 ...)"
    run_id: str

    def raise_failure(self) -> None:
        """Raise what went wrong before the run, if anything did (the data's error comes later,
        after the config checks that name a wrong key)."""
        for failed in (self.precision, self.model_hash):
            if isinstance(failed, Exception):
                raise failed


def run_inputs(cfg: DictConfig, paths: PathsConfig) -> RunInputs:
    precision = _attempt(lambda: _resolve_precision(cfg))
    resolved = OmegaConf.to_container(cfg, resolve=True)
    data_root = Path(paths.data_dir) if paths.data_dir else None
    data = _attempt(lambda: instantiate_group(cfg.get("task"), "task").load(data_root))
    model_hash = _attempt(lambda: model_fingerprint(instantiate_group(cfg.get("model"), "model"), cache_dir(paths)))
    identity = run_id(resolved, getattr(data, "data_hash", None), model_hash if isinstance(model_hash, str) else None)
    return RunInputs(resolved, data, model_hash, precision, identity)


def cache_dir(paths: PathsConfig) -> Path:
    return Path(paths.cache_dir) if paths.cache_dir else default_cache_dir()


def _attempt(read):
    """What `read()` returns, or the exception it raised."""
    try:
        return read()
    except Exception as error:  # noqa: BLE001 - any failure becomes the run's recorded error
        return error


def _resolve_precision(cfg: DictConfig) -> str:
    """Replace `trainer.precision: auto` by what it means here; the returned note says why."""
    chosen, why = resolve_precision(str(cfg.trainer.precision))
    with open_dict(cfg):
        cfg.trainer.precision = chosen
    return f"{chosen} ({why})"
