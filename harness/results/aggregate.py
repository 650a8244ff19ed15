"""From completed records to leaderboards: groups over seeds, their statistics, and paired tests.

A group is one task, metric, model and method, plus the rest of the resolved config with every
run-only key removed (the seed, paths, logger, ...; see `configurations`): runs that differ only
in their seed are one group, runs that differ in anything else (a learning rate, a LoRA rank) are
separate groups, and the keys that tell them apart become the group's `variant` label.

Per group: n seeds, mean, sample std (ddof=1), and a 95% percentile bootstrap interval of the mean
over seeds. Model selection happens on dev only: among the variants of one method on one task and
model (LoRA ranks, bidirectional layer patterns, learning rates of a search), the one with the best
dev mean is `selected`, and methods are compared by the test score of their selected variants (the
best entry is the best selected one), so a variant's lucky test score never picks the winner.
A leaderboard holds one task, metric and evaluation set: runs scored on different dev/test
subsets (`task.max_eval_examples`, another data folder) are never ranked or paired together;
the training budget (`task.max_train_examples`) is part of what is compared, so it does not split.
Against a reference method: the runs are paired by seed (same training-data order) with the
reference's selected variant on the same model, or, for a model the reference never ran on (an
encoder baseline), on the one model it ran on. Three tests compare a group with that reference:
- seeds, paired t-test (scipy.stats.ttest_rel, two-sided) over the seeds both have, at least two
  (this and ASO, with the per-group summary, are in `seed_statistics`);
- test examples, paired bootstrap (Koehn 2004), pooled over seeds, where the records keep their
  predictions (`example_significance`);
- seeds, Almost Stochastic Order (Dror et al. 2019; Ulmer et al. 2022; deepsig.aso): epsilon_min of
  the group's seed scores over the reference's, with at least three seeds on each side.
Only the plumbing is written here; the tests are scipy's and deepsig's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.results.collect import primary_score
from harness.results.example_significance import ExampleComparison, PredictionFiles, compare_on_examples
from harness.results.configurations import (
    config_hash,
    evaluation_config,
    experiment_config,
    variant_labels,
)
from harness.results.learning_curves import not_converged
from harness.results.record import RunResult
from harness.results.seed_statistics import (
    PairedComparison,
    Statistics,
    StochasticOrder,
    Summary,
    almost_stochastic_order,
    paired_test,
    summarize,
)

if TYPE_CHECKING:  # pairwise imports this module: the name is for annotations only
    from harness.results.pairwise import PairComparison


@dataclass
class Group:
    """The runs of one configuration over seeds, and what they add up to."""

    task: str
    metric: str
    model: str
    method: str
    variant_id: str
    runs: list[RunResult]
    test: Summary
    dev: Summary
    trainable_params: float
    peak_memory_bytes: float
    memory_kind: str
    train_seconds: float
    eval_seconds_per_example: float = math.nan  # test-pass wall time over examples, batched as configured
    variant: str = ""
    comparison: PairedComparison | None = None  # seeds, paired t-test
    example_comparison: ExampleComparison | None = None  # test examples, paired bootstrap
    stochastic_order: StochasticOrder | None = None  # seeds, ASO
    is_reference: bool = False
    selected: bool = False  # the best dev mean among this method's variants on this task and model
    best: bool = False  # the best test mean among the selected groups of the leaderboard
    not_converged: bool | None = None  # a seed's dev score still rising at its last evaluation (learning_curves)

    @property
    def label(self) -> str:
        return f"{self.method} [{self.variant}]" if self.variant else self.method

    @property
    def seeds(self) -> list[int]:
        return [run.seed for run in self.runs]

    @property
    def test_scores(self) -> dict[int, float]:
        scores = {run.seed: primary_score(run, "test") for run in self.runs}
        return {seed: score for seed, score in scores.items() if score is not None}


@dataclass
class Leaderboard:
    """All groups of one task, metric and evaluation set, best test mean first."""

    task: str
    metric: str
    groups: list[Group]
    reference: str | None = None
    eval_set: str = ""  # what sets this board's dev/test data apart from the task's other boards
    pairs: list[PairComparison] = field(default_factory=list)  # every pair of its selected variants

    @property
    def title(self) -> str:
        return f"{self.task} — {self.metric}" + (f" — {self.eval_set}" if self.eval_set else "")


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def make_group(key: tuple, runs: list[RunResult], statistics: Statistics) -> Group:
    task, metric, model, method, vid = key
    runs = sorted(runs, key=lambda run: run.seed)
    kinds = sorted({run.cost.peak_memory_kind for run in runs})
    return Group(
        task=task, metric=metric, model=model, method=method, variant_id=vid, runs=runs,
        test=summarize([primary_score(run, "test") for run in runs], statistics),
        dev=summarize([primary_score(run, "dev") for run in runs], statistics),
        trainable_params=float(np.median([run.cost.trainable_params for run in runs])),
        peak_memory_bytes=_mean([run.cost.peak_memory_bytes for run in runs]),
        memory_kind=kinds[0] if len(kinds) == 1 else "mixed",
        train_seconds=_mean([run.cost.train_seconds for run in runs]),
        # 0 in records written before evaluation was timed: unknown, not free
        eval_seconds_per_example=_mean([c.eval_seconds_per_example for c in (r.cost for r in runs)
                                        if c.eval_seconds_per_example > 0]),
        not_converged=not_converged(runs),
    )


def _eval_set_label(eval_labels: dict, eval_configs: dict, key: tuple) -> str:
    """The board's evaluation-set label: the keys that tell the task's evaluation sets apart, and a
    span F1 definition other than conlleval's always, even when every board of the task shares it."""
    label, config = eval_labels[key[:2]][key[5]], eval_configs[key[:2]][key[5]]
    if config.get("span_f1", "conlleval") != "conlleval" and "span_f1=" not in label:
        label = ", ".join(part for part in (label, f"span_f1={config['span_f1']}") if part)
    return label


def _one_run_per_seed(runs: list[RunResult], notes: list[str]) -> list[RunResult]:
    """Two records of one configuration and seed (their configs differ only in run-only keys) count once."""
    by_seed: dict[int, RunResult] = {}
    # A record with a test score beats one without (the rerun of a selected search trial), then the later one.
    for run in sorted(runs, key=lambda run: (primary_score(run, "test") is not None, run.finished_at)):
        if run.seed in by_seed:
            notes.append(
                f"{run.task}/{run.method}: seed {run.seed} recorded by runs {by_seed[run.seed].run_id} and "
                f"{run.run_id}; only the later one counts"
            )
        by_seed[run.seed] = run
    return list(by_seed.values())


def _or_minus_inf(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def select_on_dev(groups: list[Group]) -> Group:
    """Among variants of one method, the one with the best dev mean (never chosen on test); ties go to
    the variant with more seeds, then to the first label in sort order."""
    ranked = sorted(groups, key=lambda g: g.label)
    return max(ranked, key=lambda g: (_or_minus_inf(g.dev.mean), g.test.n))


def _mark_selected(board: list[Group]) -> list[str]:
    """Mark each method's variant selected on dev; return a note for each selected variant scored on
    dev only (a search trial) while other variants have a test score: the method then has no test
    score on the board (selection stays on dev; the remedy is a rerun with test)."""
    by_method: dict[tuple[str, str], list[Group]] = {}
    for g in board:
        by_method.setdefault((g.model, g.method), []).append(g)
    notes = []
    for variants in by_method.values():
        chosen = select_on_dev(variants)
        chosen.selected = True
        tested = sum(not math.isnan(g.test.mean) for g in variants)
        if math.isnan(chosen.test.mean) and tested:
            notes.append(
                f"{chosen.task}/{chosen.method} on {chosen.model}: the variant selected on dev ({chosen.variant}) was "
                f"scored on dev only, so the method has no test score on this board though {tested} other "
                "variant(s) have one; rerun the selected variant with evaluate_test=true to compare it on test"
            )
    return notes


# Metrics reported beside a task's primary one, each on its own leaderboard (and selected on its own
# dev score): TruthfulQA is read as MC1 and MC2 together, multi-label tasks as macro- and micro-F1.
SECONDARY_METRICS = {"mc1": ("mc2",), "macro_f1": ("micro_f1",)}


def metric_views(result: RunResult) -> list[RunResult]:
    """The record as seen by each leaderboard it belongs to: its primary metric, then secondaries."""
    views = [result]
    for metric in SECONDARY_METRICS.get(result.primary_metric, ()):
        if metric in (result.metrics.get("dev") or {}):
            views.append(dataclasses.replace(result, primary_metric=metric))
    return views


def build_leaderboards(
    results: list[RunResult], reference: str | None = None, statistics: Statistics = Statistics(),
    predictions: PredictionFiles | None = None,
) -> tuple[list[Leaderboard], list[str]]:
    """Group completed, scored records into one leaderboard per (task, metric, evaluation set);
    returns notes too. `predictions`: the records' predictions.jsonl files, for the example-level
    test (without them every group has "no predictions")."""
    notes: list[str] = []
    results = [view for result in results for view in metric_views(result)]
    buckets: dict[tuple, list[RunResult]] = {}
    configs: dict[tuple, dict[str, dict[str, Any]]] = {}  # (task, metric, model, method, eval set) -> variant configs
    eval_configs: dict[tuple, dict[str, dict[str, Any]]] = {}  # (task, metric) -> evaluation-set configs
    for result in results:
        config = experiment_config(result)
        vid, eval_config = config_hash(config), evaluation_config(result)
        # The evaluation set is part of the bucket: one config run on other data (or scored under
        # another span definition) is another group, on another board, never averaged together.
        eval_id = config_hash(eval_config)
        key = (result.task, result.primary_metric, result.model, result.method, vid, eval_id)
        buckets.setdefault(key, []).append(result)
        # Variant labels name what differs between a method's variants on one board (evaluation set).
        configs.setdefault((result.task, result.primary_metric, result.model, result.method, eval_id), {})[vid] = config
        eval_configs.setdefault((result.task, result.primary_metric), {})[eval_id] = eval_config
    labels = {method_key: variant_labels(by_variant) for method_key, by_variant in configs.items()}
    eval_labels = {key: variant_labels(by_id, unset="all") for key, by_id in eval_configs.items()}

    boards: dict[tuple[str, str, str], list[Group]] = {}
    for key, runs in sorted(buckets.items()):
        group = make_group(key[:5], _one_run_per_seed(runs, notes), statistics)
        group.variant = labels[(*key[:4], key[5])][key[4]]
        boards.setdefault((group.task, group.metric, _eval_set_label(eval_labels, eval_configs, key)), []).append(group)

    leaderboards = []
    for (task, metric, eval_set), board in sorted(boards.items()):
        # Best test mean first; groups without a test score (search trials) last, best dev first.
        board.sort(key=lambda g: (-_or_minus_inf(g.test.mean), -_or_minus_inf(g.dev.mean),
                                  g.method, g.model, g.variant))
        notes.extend(_mark_selected(board))
        top = max((g.test.mean for g in board if g.selected and not math.isnan(g.test.mean)), default=math.nan)
        for g in board:
            g.best = g.selected and g.test.mean == top
        if reference is not None:
            _compare_with_reference(board, reference, statistics, predictions or PredictionFiles({}))
        leaderboards.append(Leaderboard(task, metric, board, reference, eval_set))
    if reference is not None and not any(g.method == reference for board in boards.values() for g in board):
        notes.append(f"reference method {reference!r} has no completed runs: no paired tests")
    return leaderboards, notes


def _compare_with_reference(
    board: list[Group], reference: str, statistics: Statistics, predictions: PredictionFiles
) -> None:
    """Pair each group with the reference method's selected variant on the same model; a model without
    reference runs (an encoder baseline) is paired with the reference on the one model that has it."""
    references = {g.model: g for g in board if g.method == reference and g.selected}
    for model in sorted({g.model for g in board}):
        on_model = [g for g in board if g.model == model]
        chosen = references.get(model) or (next(iter(references.values())) if len(references) == 1 else None)
        if chosen is None:
            note = "no reference runs" if not references else "no reference runs on this model"
            for g in on_model:
                g.comparison = PairedComparison(reference, 0, math.nan, math.nan, math.nan, note)
            continue
        chosen.is_reference = True
        for g in on_model:
            if g is not chosen:
                g.comparison = paired_test(g.test_scores, chosen.test_scores, chosen.label)
                if chosen.model != model:
                    g.comparison.reference_model = chosen.model
                if g.test_scores:  # a search trial (dev only) has nothing to test on
                    _test_beyond_seed_pairs(g, chosen, statistics, predictions)


def _test_beyond_seed_pairs(group: Group, chosen: Group, statistics: Statistics, predictions: PredictionFiles) -> None:
    """The example-level paired bootstrap and the seed-level ASO of `group` against `chosen`."""
    group.example_comparison = compare_on_examples(
        group.runs, chosen.runs, group.metric, chosen.label, predictions, statistics.resamples, statistics.rng_seed
    )
    group.stochastic_order = almost_stochastic_order(
        list(group.test_scores.values()), list(chosen.test_scores.values()), chosen.label, statistics
    )
