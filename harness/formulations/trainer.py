"""Lightning Trainer and loggers from the trainer and logger configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from harness.config import LoggerConfig, TrainerConfig


def seed_everything(seed: int) -> None:
    """Python, numpy and torch RNGs (and dataloader workers) from the run's seed."""
    L.seed_everything(seed, workers=True, verbose=False)


def build_loggers(
    cfg: LoggerConfig, work_dir: Path, name: str, group: str, tags: list[str], config: dict[str, Any]
) -> list:
    loggers: list = []
    if cfg.wandb and cfg.wandb_mode != "disabled":
        loggers.append(WandbLogger(experiment=_wandb_run(cfg, work_dir, name, group, tags, config)))
    if cfg.csv:
        loggers.append(CSVLogger(save_dir=str(work_dir), name="csv", version=""))
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
    callbacks = [checkpoint, *callbacks]
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
    return L.Trainer(
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
