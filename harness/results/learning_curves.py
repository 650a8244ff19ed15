"""Learning curves from result records: dev score against training examples seen, and whether a run
stopped while its dev score was still rising (not converged).

A record keeps, per stage, every dev evaluation made during fit (``stages[i]["dev_history"]``:
optimizer step, training examples seen, primary score). The curve of a run is that of its last
stage with dev evaluations: the stage whose weights are tested (LoFiT's second stage, not the head
selection before it). Examples, not steps, are the x axis so that runs with different batch sizes
compare; a record made before examples were counted has steps only, and its x is estimated as
step x batch size x gradient accumulation (x devices x nodes), marked as an estimate.

Not converged (the leaderboards' †): a run's best dev score came at its last evaluation, strictly
above every earlier one (so also above the one just before): training stopped while dev was still
improving, so more budget might change the ranking. A flat end (last = best so far) is converged.
A run with fewer than two dev evaluations has no direction and is not judged (None), neither
converged nor not. A group (a leaderboard row) is not converged when ANY of its judged seeds is:
one seed cut short is enough to doubt the budget for that configuration.

Reads only records; no plotting here (the figure is `plots.learning_curve_figure`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.results.record import RunResult

NOT_CONVERGED_MARK = "†"


@dataclass(frozen=True)
class Curve:
    """One run's dev evaluations in order: training examples seen (x) and dev score (y)."""

    seed: int
    examples_seen: list[float]
    scores: list[float]
    estimated: bool = False  # x from steps x effective batch: the record predates counted examples


def last_dev_history(run: RunResult) -> list[dict[str, Any]]:
    """The dev evaluations of the run's last stage that has any (the tested weights' training)."""
    for stage in reversed(run.stages or []):
        if stage.get("dev_history"):
            return stage["dev_history"]
    return []


def examples_per_step(config: dict[str, Any]) -> int | None:
    """Training examples per optimizer step from a record's trainer config, or None when the config
    does not say (the fallback x for records without counted examples). A last partial batch of an
    epoch makes this an over-estimate of at most one batch per epoch."""
    trainer = config.get("trainer") or {}
    batch_size = trainer.get("batch_size")
    if not isinstance(batch_size, int):
        return None
    devices = trainer.get("devices", 1)  # "auto" or a list of ids: count one, the common case
    replicas = (devices if isinstance(devices, int) and devices > 0 else 1) * int(trainer.get("num_nodes") or 1)
    return batch_size * int(trainer.get("accumulate_grad_batches") or 1) * replicas


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def run_curve(run: RunResult) -> Curve | None:
    """The run's learning curve under its primary metric (the board's metric), or None when the
    record has no dev evaluation of it (an evaluation-only run, an older record, a secondary
    metric the history does not keep)."""
    entries = [e for e in last_dev_history(run) if _finite(e.get(run.primary_metric))]
    if not entries:
        return None
    scores = [float(e[run.primary_metric]) for e in entries]
    if all(_finite(e.get("examples_seen")) for e in entries):
        return Curve(run.seed, [float(e["examples_seen"]) for e in entries], scores)
    per_step = examples_per_step(run.config)
    if per_step is None or not all(_finite(e.get("step")) for e in entries):
        return None
    return Curve(run.seed, [float(e["step"] * per_step) for e in entries], scores, estimated=True)


def group_curves(runs: list[RunResult]) -> list[Curve]:
    """The curves of a group's seeds that have one, in seed order."""
    curves = [run_curve(run) for run in sorted(runs, key=lambda run: run.seed)]
    return [curve for curve in curves if curve is not None]


def still_rising(scores: list[float]) -> bool | None:
    """True when the last dev evaluation is the best, strictly above every earlier one (training
    stopped while dev was improving); False when an earlier evaluation is as good or better (a peak
    passed, or a flat end); None with fewer than two evaluations (one point has no direction)."""
    if len(scores) < 2:
        return None
    return scores[-1] > max(scores[:-1])


def not_converged(runs: list[RunResult]) -> bool | None:
    """A group's verdict: True when any seed is still rising, False when every judged seed is not,
    None when no seed has two dev evaluations to judge by."""
    verdicts = [still_rising(curve.scores) for curve in group_curves(runs)]
    judged = [verdict for verdict in verdicts if verdict is not None]
    return any(judged) if judged else None


def convergence_mark(verdict: bool | None) -> str:
    """What follows a row's label: the mark for a not-converged group, nothing otherwise."""
    return f" {NOT_CONVERGED_MARK}" if verdict else ""


def convergence_note(verdicts: list[bool | None]) -> str:
    """The sentences under a leaderboard explaining its marks and its unjudged rows (or nothing)."""
    parts = []
    if any(verdicts):
        parts.append(
            f"{NOT_CONVERGED_MARK} = not converged: in at least one seed the last dev evaluation was the best, "
            f"still rising (more training might change the score)."
        )
    unjudged = sum(verdict is None for verdict in verdicts)
    if unjudged:
        rows = "row" if unjudged == 1 else "rows"
        parts.append(f"Convergence not judged for {unjudged} {rows} (fewer than two dev evaluations recorded per run).")
    return " ".join(parts)


def curves_footnote(estimated_runs: int, undrawn_labels: list[str], any_marked: bool = False) -> str:
    """The figure's footnote: what † means, which x values are estimates, which rows have no curve."""
    parts = []
    if any_marked:
        parts.append(f"{NOT_CONVERGED_MARK} not converged: a seed's best dev score is its last, still rising.")
    if estimated_runs:
        runs = "run" if estimated_runs == 1 else "runs"
        parts.append(
            f"Dashed, open markers: {estimated_runs} {runs} recorded before examples were counted; x estimated as "
            f"optimizer steps × batch size × gradient accumulation (× devices)."
        )
    if undrawn_labels:
        parts.append("No dev history recorded (not drawn): " + ", ".join(undrawn_labels) + ".")
    return " ".join(parts)
