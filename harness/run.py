"""One experiment, top to bottom: config -> task -> backbone -> method -> formulation -> fit ->
dev/test -> result record. The only module that knows the whole order."""

from __future__ import annotations

import datetime
import shutil
import time
import traceback
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from harness.config import ConfigError, LoggerConfig, PathsConfig, TrainerConfig, checked_dataclass, instantiate_group
from harness.formulations.cost import PeakMemory, ThroughputMeter
from harness.formulations.registry import builder_for, default_formulation
from harness.formulations.trainer import (
    build_loggers,
    build_trainer,
    close_loggers,
    resume_checkpoint,
    seed_everything,
)
from harness.methods.trainable import count_parameters
from harness.models.backbone import default_cache_dir, load_backbone, model_info
from harness.results.provenance import machine, package_versions
from harness.results.record import RunResult, completed_result, run_dir, run_id_for, write_result
from harness.results.summary import print_summary

NOT_PART_OF_IDENTITY = ("paths", "logger")  # where results go does not change what they are


def run_from_hydra(cfg: DictConfig) -> float | None:
    """Hydra task function: run, record, and in a single run exit non-zero on failure."""
    choices = HydraConfig.get().runtime.choices
    result = run(cfg, experiment=choices.get("experiment"))
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if result.status == "failed" and not multirun:
        raise SystemExit(1)  # the one-line reason was printed; a sweep goes on instead
    return result.metrics.get("dev", {}).get(result.primary_metric)


def run(cfg: DictConfig, experiment: str | None = None) -> RunResult:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    identity = {k: v for k, v in resolved.items() if k not in NOT_PART_OF_IDENTITY}
    run_id = run_id_for(identity)
    paths = checked_dataclass(PathsConfig, cfg.get("paths"), "paths")
    sweep = str(cfg.get("sweep", "default"))
    out_dir = run_dir(paths.results_dir, sweep, run_id)
    if (done := completed_result(out_dir)) is not None:
        print(f"skip: run {run_id} already completed ({out_dir / 'result.json'})")
        return done
    names = {group: str((resolved.get(group) or {}).get("name", "?")) for group in ("task", "model", "method")}
    record = RunResult(
        run_id=run_id, status="failed", sweep=sweep, seed=int(cfg.get("seed", 0)), config=resolved,
        experiment=experiment, versions=package_versions(), machine=machine(),
        started_at=_now(), **names,
    )  # fmt: skip
    work_dir = Path(paths.work_dir) / sweep / run_id
    if (out_dir / "result.json").exists():  # an earlier attempt failed: retry from scratch
        shutil.rmtree(work_dir, ignore_errors=True)
    try:
        _train_and_evaluate(cfg, record, paths, work_dir)
        record.status = "completed"
    except Exception as error:  # any failure is recorded, never lost
        record.error = {"type": type(error).__name__, "message": str(error), "traceback": traceback.format_exc()}
        print(f"error: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    record.finished_at = _now()
    path = write_result(record, out_dir)
    print_summary(record, path)
    return record


def _train_and_evaluate(cfg: DictConfig, record: RunResult, paths: PathsConfig, work_dir: Path) -> None:
    task = instantiate_group(cfg.get("task"), "task")
    model_spec = instantiate_group(cfg.get("model"), "model")
    method = instantiate_group(cfg.get("method"), "method")
    trainer_cfg = checked_dataclass(TrainerConfig, cfg.get("trainer"), "trainer")
    logger_cfg = checked_dataclass(LoggerConfig, cfg.get("logger"), "logger")
    cache_dir = Path(paths.cache_dir) if paths.cache_dir else default_cache_dir()
    formulation = cfg.get("formulation") or default_formulation(task.kind)
    evaluate_test = _flag(cfg, "evaluate_test", default=True)
    record.primary_metric = task.metric

    method.check(model_info(model_spec, cache_dir), formulation)  # impossible values fail before weights load
    task_data = task.load(Path(paths.data_dir) if paths.data_dir else None)
    record.data_hash = task_data.data_hash
    seed_everything(record.seed)
    backbone = load_backbone(model_spec, cache_dir, with_lm_head=formulation == "generative")

    for stage in method.stages:  # most methods: one stage; LoFiT: select heads, then train offsets
        backbone.model = method.apply(backbone.model, backbone.info, stage=stage)
        module, data = builder_for(formulation)(task, task_data, backbone, method, trainer_cfg, record.seed, cache_dir)
        meter = ThroughputMeter()
        loggers = build_loggers(
            logger_cfg, work_dir, name=f"{record.experiment or record.task}-{record.method}-s{record.seed}",
            group=record.sweep, tags=[record.task, record.model, record.method], config=record.config,
        )  # fmt: skip
        trainer = build_trainer(trainer_cfg, work_dir / stage, f"dev/{task.metric}", loggers, [meter])
        with PeakMemory() as memory:
            started = time.perf_counter()
            resume = resume_checkpoint(work_dir / stage)  # an interrupted (killed) attempt left it
            if resume is not None:
                print(f"resuming run {record.run_id} from {resume}")
            trainer.fit(module, datamodule=data, ckpt_path=resume)
            fit_seconds = time.perf_counter() - started
            best = None if trainer_cfg.fast_dev_run else "best"
            if not module.best_dev_scores:  # no dev evaluation happened inside fit
                trainer.validate(module, datamodule=data, ckpt_path=best, verbose=False)
            if evaluate_test:
                trainer.test(module, datamodule=data, ckpt_path=best, verbose=False)  # once, selected weights

    dev = module.best_dev_scores or module.scores["dev"]
    record.metrics = {"dev": _plain(dev)}
    if evaluate_test:
        record.metrics["test"] = _plain(module.scores["test"])
    trainable, total = count_parameters(module)
    record.cost.trainable_params, record.cost.total_params = trainable, total
    record.cost.peak_memory_bytes, record.cost.peak_memory_kind = memory.peak_bytes, memory.kind
    record.cost.train_seconds = fit_seconds - meter.eval_seconds_during_fit
    record.cost.eval_seconds = meter.eval_seconds
    record.cost.train_tokens_per_second = meter.train_tokens_per_second
    record.cost.eval_tokens_per_second = meter.eval_tokens_per_second
    close_loggers(loggers)


def _flag(cfg: DictConfig, key: str, default: bool) -> bool:
    value = cfg.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


def _plain(scores: dict) -> dict:
    """Metric output as JSON-ready plain values."""
    return {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in scores.items()}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
