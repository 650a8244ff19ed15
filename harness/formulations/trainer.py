"""Lightning Trainer and loggers from the trainer and logger configs, and what a run needs to know
about its processes when it has several (DDP).

Several processes: `python -m harness` is rank 0; on its first fit (or validate) Lightning's DDP
strategy starts the other ranks by running the same command line again, with LOCAL_RANK and
WORLD_SIZE set (SLURM starts them itself, one task each). Every rank runs the whole experiment;
only rank 0 writes: record, predictions, artefacts, checkpoints (Lightning's rule), loggers. A rank
other than 0 that fails leaves its error in ``<work_dir>/rank_errors/`` for rank 0's record and ends
with exit status 0 (a non-zero status makes Lightning kill rank 0 before it records anything).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher

from harness.config import LoggerConfig, TrainerConfig

RANK_ERRORS = "rank_errors"  # under the run's work dir: one JSON file per failed rank other than 0
_launchers: list[_SubprocessScriptLauncher] = []  # those that started this process's other ranks


def process_rank() -> int:
    """This process's global rank: Lightning's once a Trainer exists; before, what the launcher's
    variables say (RANK, LOCAL_RANK, SLURM_PROCID: 0 when none is set)."""
    return int(getattr(rank_zero_only, "rank", 0) or 0)


def is_rank_zero() -> bool:
    """Whether this process writes the run's files: rank 0 (a single process is rank 0). Before a
    Trainer exists, the first process of another node also says rank 0, hence NODE_RANK."""
    node = os.environ.get("NODE_RANK") or os.environ.get("GROUP_RANK") or "0"
    return process_rank() == 0 and int(node) == 0


def gather_objects(value: Any) -> list[Any]:
    """`value` from every process, in rank order ([value] in a single process). Every rank must
    call it at the same point (a collective)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def leave_rank_failure(work_dir: Path, error: dict[str, str]) -> None:
    """A failed rank other than 0: its error where rank 0 reads it (atomically: never half a file)."""
    folder = work_dir / RANK_ERRORS
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".rank.", dir=folder)
    with os.fdopen(fd, "w") as handle:
        json.dump({"rank": process_rank(), **error}, handle)
    os.replace(tmp, folder / f"rank{process_rank()}.json")


def rank_failures(work_dir: Path, since: float) -> list[dict[str, Any]]:
    """Errors other ranks left since `since` (a time.time()), by rank; older files are other attempts'."""
    found = []
    for path in sorted((work_dir / RANK_ERRORS).glob("rank*.json")):
        try:
            if path.stat().st_mtime >= since - 1:
                found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda error: error.get("rank", 0))


def stop_other_ranks(timeout_s: float = 10.0) -> None:
    """Rank 0 after recording a failure: end the ranks it started, which would otherwise wait in a
    collective for it (for the process group's timeout on NCCL; gloo ends them once rank 0 exits)."""
    deadline = time.monotonic() + timeout_s
    for launcher in _launchers:
        procs = list(launcher.procs)
        # First out of the list Lightning's child-process observer watches (the same list): seeing a
        # rank killed, it would SIGKILL this process too, before it exits with the run's status.
        launcher.procs.clear()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):  # the record is written already
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    _launchers.clear()


def seed_everything(seed: int) -> None:
    """Python, numpy and torch RNGs (and dataloader workers) from the run's seed."""
    L.seed_everything(seed, workers=True, verbose=False)


def build_loggers(
    cfg: LoggerConfig, work_dir: Path, name: str, group: str, tags: list[str], config: dict[str, Any]
) -> list:
    loggers: list = []
    if not is_rank_zero():  # Lightning's loggers write on rank 0 only, but wandb.init would not wait
        return loggers
    if cfg.wandb and cfg.wandb_mode != "disabled":
        loggers.append(WandbLogger(experiment=_wandb_run(cfg, work_dir, name, group, tags, config)))
    if cfg.csv:
        # One folder per attempt (csv/version_0, version_1, ...): Lightning's CSV writer deletes a
        # metrics.csv it finds, so a resumed run would otherwise lose the killed attempt's log.
        loggers.append(CSVLogger(save_dir=str(work_dir), name="csv", version=None))
    return loggers


def _wandb_run(cfg: LoggerConfig, work_dir: Path, name: str, group: str, tags: list[str], config: dict[str, Any]):
    """The W&B run, started here rather than by WandbLogger: Lightning passes wandb an `anonymous`
    setting that wandb now warns about on every run. Offline, W&B's console lines (version, sync
    hints) are noise beside the summary: silent; its files land in <work_dir>/wandb/offline-run-*."""
    import wandb  # only when W&B logs: importing it costs a second

    work_dir.mkdir(parents=True, exist_ok=True)
    offline = cfg.wandb_mode == "offline"
    return wandb.init(
        name=name, group=group, tags=tags, project=cfg.project, entity=cfg.entity, dir=str(work_dir),
        mode="offline" if offline else "online", config=config,
        settings=wandb.Settings(silent=offline, disable_git=True),  # git: the record has the commit
    )  # fmt: skip


class ValidateAtTrainingEnd(Callback):
    """Score dev after the last training batch, where the evaluation schedule would not.

    With a fractional `val_check_interval` Lightning validates every int(N x interval) batches of an
    N-batch epoch and not at the epoch's end (0.34 of 878 batches: after 298 and 596, never after
    878), and a `max_steps` budget can end training between two evaluations. Without this the last
    stretch of training would never reach the dev score, the best checkpoint or test. Setting
    `should_stop` on the final batch is how Lightning lets a callback ask for a validation before
    stopping (`_should_check_val_fx`); training ends there anyway, and when the schedule already
    validates at that batch it runs once."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        last_epoch = trainer.max_epochs is not None and 0 < trainer.max_epochs <= trainer.current_epoch + 1
        end_of_epochs = last_epoch and batch_idx + 1 >= trainer.num_training_batches
        end_of_steps = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
        if end_of_epochs or end_of_steps:
            trainer.should_stop = True


def build_trainer(cfg: TrainerConfig, work_dir: Path, monitor: str, loggers: list, callbacks: list) -> L.Trainer:
    """A Trainer that keeps the best dev checkpoint (for test) and the last one (for resume)."""
    checkpoint = ModelCheckpoint(
        dirpath=str(work_dir / "checkpoints"),
        filename="best",
        monitor=monitor,
        mode="max",
        save_top_k=1,
        save_last=True,
        enable_version_counter=False,
    )
    callbacks = [checkpoint, ValidateAtTrainingEnd(), *callbacks]
    if cfg.checkpoint_every_n_steps:
        # For resuming long epochs: a rolling mid-epoch checkpoint beside the epoch-end ones.
        callbacks.append(
            ModelCheckpoint(
                dirpath=str(work_dir / "checkpoints"),
                filename="resume",
                every_n_train_steps=cfg.checkpoint_every_n_steps,
                save_top_k=1,
                enable_version_counter=False,
            )
        )
    if cfg.early_stopping_patience:
        # Patience counts dev evaluations; its state is checkpointed, so a resumed run keeps counting.
        callbacks.append(EarlyStopping(monitor=monitor, mode="max", patience=cfg.early_stopping_patience))
    if cfg.progress_bar:
        callbacks.append(RichProgressBar())
    trainer = L.Trainer(
        max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        gradient_clip_val=cfg.gradient_clip_val,
        precision=cfg.precision,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        num_nodes=cfg.num_nodes,
        check_val_every_n_epoch=cfg.check_val_every_n_epoch,
        val_check_interval=cfg.val_check_interval,
        deterministic=cfg.deterministic,
        log_every_n_steps=cfg.log_every_n_steps,
        enable_progress_bar=cfg.progress_bar,
        enable_model_summary=False,
        fast_dev_run=cfg.fast_dev_run,
        logger=loggers or False,
        callbacks=callbacks,
        default_root_dir=str(work_dir),
        use_distributed_sampler=False,  # our batch samplers shard by rank themselves
        num_sanity_val_steps=0,
    )
    launcher = trainer.strategy.launcher
    if isinstance(launcher, _SubprocessScriptLauncher):  # starts the other ranks if none runs yet
        _launchers[:] = [*(earlier for earlier in _launchers if earlier.procs), launcher]
    return trainer


def stopped_early(trainer: L.Trainer) -> bool:
    """Whether early stopping ended the fit before its epoch or step budget."""
    # Not `stopped_epoch > 0`: a stop inside the first epoch leaves it at 0.
    return any(isinstance(c, EarlyStopping) and c.wait_count >= c.patience for c in trainer.callbacks)


def resume_checkpoint(work_dir: Path) -> Path | None:
    """The newest checkpoint an interrupted run left (epoch-end last.ckpt or mid-epoch resume.ckpt)."""
    candidates = [work_dir / "checkpoints" / name for name in ("last.ckpt", "resume.ckpt")]
    existing = [path for path in candidates if path.is_file()]
    return max(existing, key=lambda path: path.stat().st_mtime_ns) if existing else None


def close_loggers(loggers: list) -> None:
    """Finish the W&B run so the next job of a sweep in this process starts its own."""
    for logger in loggers:
        logger.finalize("success")
        if isinstance(logger, WandbLogger):
            logger.experiment.finish()
