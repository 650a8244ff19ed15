"""Running one stage of a method on a formulation module: fit with dev selection, hand on the
selected weights, evaluate dev (and test after the last stage), and measure what it cost.

A method with no stages (zero-shot, in-context learning) is one evaluation-only stage. Multi-stage
methods (LoFiT) run `run_stage` once per stage; each stage ends with its dev-selected weights
loaded, which is what the next stage's ``apply`` receives.

A stage killed mid-way resumes from its newest checkpoint on the next attempt, and its cost is the
sum over attempts (`cost.AttemptLedger`, one file per rank). Under DDP the outcome is the run's, not
one process's: tokens and examples are summed over ranks; seconds are the slowest rank's (the ranks
wait for each other, so that is the wall time), which makes tokens/s the global throughput; peak
memory is the largest process's own peak. `trainer.min_steps` adds whole epochs when the training
split is too small for that many optimizer steps; the epochs and steps taken are in the outcome.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.config import TrainerConfig
from harness.formulations.cost import SUMMED, AttemptLedger, PeakMemory, ThroughputMeter, combine_ranks
from harness.formulations.trainer import build_trainer, gather_objects, resume_checkpoint, stopped_early


@dataclass
class StageOutcome:
    """What one stage cost and what it selected on dev (kept per stage in the record)."""

    name: str
    trained: bool
    train_seconds: float = 0.0  # fit wall time less dev evaluations inside it
    train_batch_seconds: float = 0.0  # time inside training batches (tokens/s is over this)
    eval_seconds: float = 0.0
    train_tokens: int = 0
    eval_tokens: int = 0
    eval_examples: int = 0
    peak_memory_bytes: int = 0
    peak_memory_kind: str = "rss"
    attempts: int = 1  # more than one: killed and resumed; every figure above sums all attempts
    world_size: int = 1  # processes (DDP ranks); global batch = batch_size x accumulate_grad_batches x this
    train_examples: int = 0
    epochs: int = 0  # the epoch budget (early stopping may end sooner: see optimizer_steps)
    optimizer_steps: int = 0
    stopped_early: bool = False
    resumed_from: str | None = None
    dev: dict[str, Any] = field(default_factory=dict)
    dev_history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_stage(
    name: str,
    module,
    data,
    trainer_cfg: TrainerConfig,
    stage_dir: Path,
    monitor: str,
    loggers: list,
    train: bool,
    evaluate_test: bool,
) -> StageOutcome:
    memory = PeakMemory()
    fit_ended = None

    def this_attempt() -> dict[str, Any]:
        # From the fit's start (Lightning's on_fit_start: the ranks started, the process group formed,
        # as a single process's imports and loading are not counted either) to its end, or to now
        # when killed mid-fit.
        end = fit_ended if fit_ended is not None else time.perf_counter()
        fit = end - meter.fit_started if meter.fit_started is not None else 0.0
        return {
            "train_seconds": fit - meter.eval_seconds_during_fit if train else 0.0,
            "train_batch_seconds": meter.train_seconds, "eval_seconds": meter.eval_seconds,
            "train_tokens": meter.train_tokens, "eval_tokens": meter.eval_tokens,
            "eval_examples": meter.eval_examples, "peak_memory_bytes": memory.peak_so_far(),
        }  # fmt: skip

    meter = ThroughputMeter(on_progress=lambda: ledger.write(this_attempt()))
    trainer = build_trainer(trainer_cfg, stage_dir, monitor, loggers, [meter])
    rank = trainer.global_rank  # known from the launcher's variables before the ranks start
    ledger = AttemptLedger(stage_dir / ("cost.json" if rank == 0 else f"cost.rank{rank}.json"))
    outcome = StageOutcome(name=name, trained=train, world_size=trainer.world_size)
    with memory:
        if train:
            steps_per_epoch = data.optimizer_steps_per_epoch(trainer.world_size, trainer_cfg.accumulate_grad_batches)
            trainer.fit_loop.max_epochs = outcome.epochs = trainer_cfg.epochs_for(steps_per_epoch)
            outcome.train_examples = len(data.splits["train"])
            resume = resume_checkpoint(stage_dir)  # an interrupted (killed) attempt left it
            if resume is not None:
                print(f"resuming stage {name} from {resume}")
                outcome.resumed_from = str(resume)
            trainer.fit(module, datamodule=data, ckpt_path=resume)
            fit_ended = time.perf_counter()
            outcome.optimizer_steps, outcome.stopped_early = trainer.global_step, stopped_early(trainer)
            best = stage_dir / "checkpoints" / "best.ckpt"
            if not trainer_cfg.fast_dev_run and best.is_file():
                module.load_selected(best)  # the dev-selected weights: for test and the next stage
        if not module.best_dev_scores:  # no dev evaluation happened inside fit (or no fit)
            trainer.validate(module, datamodule=data, verbose=False)
            module.best_dev_scores = module.scores.get("dev", {})
            module.best_dev_predictions = module.predictions.get("dev", {})
        if evaluate_test:
            trainer.test(module, datamodule=data, verbose=False)  # once, with the selected weights
    totals = combine_ranks(gather_objects(ledger.total(this_attempt())))
    ledger.write(this_attempt())
    for key in SUMMED:
        setattr(outcome, key, totals[key])
    outcome.peak_memory_bytes, outcome.peak_memory_kind = totals["peak_memory_bytes"], memory.kind
    outcome.attempts = totals["attempts"]
    outcome.dev = module.best_dev_scores
    outcome.dev_history = list(module.dev_history)
    return outcome
