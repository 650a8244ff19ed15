"""One experiment, top to bottom: config -> task -> backbone -> attention -> method stages on a
formulation -> dev/test -> result record and predictions. The only module that knows the order.

Under DDP every rank runs all of it (`formulations.trainer` says how the ranks start); only rank 0
writes the record, predictions and artefacts, and a failure on any rank ends in rank 0's record.
"""

from __future__ import annotations

import datetime
import shutil
import time
import traceback
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from harness.config import LoggerConfig, PathsConfig, TrainerConfig, boolean_flag, checked_dataclass, instantiate_group
from harness.formulations.demonstration_log import dropped_for_length
from harness.formulations.registry import check_combination
from harness.formulations.stages import run_stage
from harness.formulations.trainer import (
    build_loggers, close_loggers, is_rank_zero, leave_rank_failure, process_rank, rank_failures, seed_everything,
    stop_other_ranks,
)  # fmt: skip
from harness.methods.context import MethodContext
from harness.methods.trainable import count_parameters
from harness.models.backbone import load_backbone, model_info
from harness.results.provenance import machine, package_versions
from harness.results.record import (
    RunResult, completed_result, plain_scores, run_dir, sum_stage_costs, write_predictions, write_result,
)  # fmt: skip
from harness.results.summary import print_summary
from harness.quiet import quiet_third_party_output
from harness.run_inputs import cache_dir as cache_dir_for, run_inputs


def run_from_hydra(cfg: DictConfig) -> float | None:
    """Hydra task function: run, record, and in a single run exit non-zero on failure."""
    quiet_third_party_output()
    choices = HydraConfig.get().runtime.choices
    result = run(cfg, experiment=choices.get("experiment"))
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if result.status == "failed" and not multirun and is_rank_zero():
        raise SystemExit(1)  # the one-line reason was printed; a sweep goes on instead
    # Another rank ends with status 0 even when it failed: Lightning kills rank 0 when one of the
    # ranks it started exits otherwise, before rank 0 could record the failure.
    return result.metrics.get("dev", {}).get(result.primary_metric)


def run(cfg: DictConfig, experiment: str | None = None) -> RunResult:
    paths = checked_dataclass(PathsConfig, cfg.get("paths"), "paths")
    inputs = run_inputs(cfg, paths)
    resolved, run_id = inputs.resolved, inputs.run_id
    sweep = str(cfg.get("sweep", "default"))
    out_dir = run_dir(paths.results_dir, sweep, run_id)
    if (done := completed_result(out_dir)) is not None:
        print(f"skip: run {run_id} already completed ({out_dir / 'result.json'})")
        return done
    names = {group: str((resolved.get(group) or {}).get("name", "?")) for group in ("task", "model", "method")}
    record = RunResult(
        run_id=run_id, status="failed", sweep=sweep, seed=int(cfg.get("seed", 0)), config=resolved,
        experiment=experiment, versions=package_versions(), machine=machine(), started_at=_now(), **names,
    )  # fmt: skip
    work_dir = Path(paths.work_dir) / sweep / run_id
    writer = is_rank_zero()  # several processes (DDP): rank 0 writes, the others only compute
    if writer and (out_dir / "result.json").exists():  # an earlier attempt failed: retry from scratch
        shutil.rmtree(work_dir, ignore_errors=True)
    started = time.time()
    try:
        inputs.raise_failure()
        record.precision, record.model_hash = inputs.precision, inputs.model_hash
        _train_and_evaluate(cfg, record, paths, work_dir, out_dir, inputs.data)
        record.status = "completed"
    except Exception as error:  # any failure is recorded, never lost
        if is_interruption(error):
            raise  # no record: its checkpoints stay, and rerunning the sweep resumes it
        record.error = {"type": type(error).__name__, "message": str(error), "traceback": traceback.format_exc()}
        if not writer:
            leave_rank_failure(work_dir, record.error)  # for rank 0's record
            print(f"error on rank {process_rank()}: {_first_line(record.error)}")
            return record
        record.error = _with_other_ranks(record.error, rank_failures(work_dir, since=started))
        print(f"error: {_first_line(record.error)}")
    if not writer:
        return record
    record.finished_at = _now()
    path = write_result(record, out_dir)
    print_summary(record, path)
    if record.status == "failed":
        stop_other_ranks()  # they would wait for this one in their next collective
    return record


def _with_other_ranks(error: dict[str, str], others: list[dict]) -> dict[str, str]:
    """Rank 0's error, or, when other ranks failed (so rank 0's is most likely their going away, e.g.
    gloo's "Connection closed by peer"), the first of theirs, naming its rank; the traceback holds
    every failed rank's, rank 0's last."""
    if not others:
        return error
    first = others[0]
    tracebacks = "".join(f"--- rank {e['rank']} ---\n{e['traceback']}" for e in others)
    return {
        "type": first["type"],
        "message": f"rank {first['rank']}: {first['message']}",
        "traceback": f"{tracebacks}--- rank 0 ---\n{error['traceback']}",
    }


def _first_line(error: dict[str, str]) -> str:
    return f"{error['type']}: {(error['message'].splitlines() or [''])[0]}"





def _train_and_evaluate(
    cfg: DictConfig, record: RunResult, paths: PathsConfig, work_dir: Path, out_dir: Path, task_data
) -> None:
    task = instantiate_group(cfg.get("task"), "task")
    model_spec = instantiate_group(cfg.get("model"), "model")
    method = instantiate_group(cfg.get("method"), "method")
    attention = instantiate_group(cfg.get("attention"), "attention")
    formulation = instantiate_group(cfg.get("formulation"), "formulation")
    trainer_cfg = checked_dataclass(TrainerConfig, cfg.get("trainer"), "trainer")
    logger_cfg = checked_dataclass(LoggerConfig, cfg.get("logger"), "logger")
    cache_dir = cache_dir_for(paths)
    evaluate_test = boolean_flag(cfg, "evaluate_test", default=True)
    record.primary_metric, record.formulation, record.attention = task.metric, formulation.name, attention.name

    info = model_info(model_spec, cache_dir)
    check_combination(task, formulation, method, attention, info)  # impossible runs fail before weights load
    if isinstance(task_data, Exception):
        raise task_data
    record.data_hash, record.data_source = task_data.data_hash, task_data.source
    seed_everything(record.seed)
    backbone = load_backbone(model_spec, cache_dir, with_lm_head=formulation.head == "lm")
    backbone.model = attention.apply(backbone.model, info)

    loggers = build_loggers(
        logger_cfg, work_dir, name=f"{record.experiment or record.task}-{record.method}-s{record.seed}",
        group=record.sweep, tags=[record.task, record.model, record.method], config=record.config,
    )  # fmt: skip
    try:
        stages = list(method.stages) or ["evaluate"]  # no stage: evaluate the applied model only
        module = None
        for number, stage in enumerate(stages):
            context = MethodContext(
                info=info, formulation=formulation.name, stage=stage, tokenizer=backbone.tokenizer,
                labels=list(task_data.labels), artefact_dir=out_dir / "artefacts" if is_rank_zero() else None,
                previous=module,
            )  # fmt: skip
            backbone.model = method.apply(backbone.model, context)
            previous = module
            module, data = formulation.build(task, task_data, backbone, method, trainer_cfg, record.seed, cache_dir)
            module.continue_from(previous)
            last = number == len(stages) - 1
            outcome = run_stage(
                stage, module, data, trainer_cfg, work_dir / stage, f"dev/{task.metric}", loggers,
                train=bool(method.stages), evaluate_test=evaluate_test and last,
            )  # fmt: skip
            record.stages.append(outcome.to_dict())
    finally:
        close_loggers(loggers)  # on every path: a sweep's next job must not inherit an open W&B run

    record.metrics = {"dev": plain_scores(module.best_dev_scores)}
    if (warning := module.nothing_predicted(module.best_dev_scores)) is not None:
        record.warnings.append(warning)
    if evaluate_test:
        record.metrics["test"] = plain_scores(module.scores["test"])
    record.warnings.extend(dropped_for_length(record.metrics))
    record.cost = sum_stage_costs(record.stages, *count_parameters(module))
    if not is_rank_zero():
        return  # every rank holds every prediction (gathered); rank 0 writes them
    write_predictions(module.prediction_rows(), out_dir)
    record.artefacts = sorted(str(p.relative_to(out_dir)) for p in (out_dir / "artefacts").rglob("*") if p.is_file())


def is_interruption(error: Exception) -> bool:
    """An error that stops a run from outside, not a failure of the run: submitit raises
    ``UncompletedJobError`` in a SLURM job that hit its time limit once more than its launcher
    requeues (``max_num_timeout``). Recording it as failed would make the rerun start from scratch."""
    kind = type(error)
    return kind.__name__ == "UncompletedJobError" and kind.__module__.startswith("submitit")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
