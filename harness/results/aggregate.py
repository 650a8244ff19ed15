"""From completed records to leaderboards: groups over seeds, their statistics, and paired tests.

A group is one task, metric, model and method, plus the rest of the resolved config with every
run-only key removed (the seed, paths, logger, ...): runs that differ only in their seed are one
group, runs that differ in anything else (a learning rate, a LoRA rank) are separate groups, and
the keys that tell them apart become the group's `variant` label.

Per group: n seeds, mean, sample std (ddof=1), and a 95% percentile bootstrap interval of the mean
over seeds. Against a reference method: the runs are paired by seed on the same task and model, and
a paired t-test (scipy.stats.ttest_rel) gives the p-value when there are at least two pairs.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from harness.results.collect import primary_score
from harness.results.record import RunResult

# Config keys (at any depth) that identify a run but do not change the experiment.
RUN_ONLY_KEYS = frozenset({"seed", "paths", "logger", "hydra", "run_id", "sweep", "output_dir", "wandb"})


@dataclass
class Summary:
    """A score over seeds: mean, sample std, and a bootstrap interval of the mean (nan when undefined)."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float


@dataclass
class PairedComparison:
    """A group against the reference, over the seeds both have."""

    reference: str  # the reference group's label
    n_pairs: int
    delta: float  # mean of (group - reference) over the paired seeds; nan without pairs
    t_statistic: float  # nan with fewer than two pairs or zero variance of the differences
    p_value: float
    note: str = ""  # why the test is n/a, when it is


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
    variant: str = ""
    comparison: PairedComparison | None = None
    is_reference: bool = False
    best: bool = False

    @property
    def label(self) -> str:
        return f"{self.method} [{self.variant}]" if self.variant else self.method

    @property
    def seeds(self) -> list[int]:
        return [run.seed for run in self.runs]

    @property
    def test_scores(self) -> dict[int, float]:
        return {run.seed: primary_score(run, "test") for run in self.runs}


@dataclass
class Leaderboard:
    """All groups of one task and metric, best test mean first."""

    task: str
    metric: str
    groups: list[Group]
    reference: str | None = None


@dataclass
class Statistics:
    """How the numbers are computed; printed under every table."""

    confidence: float = 0.95
    resamples: int = 10_000
    rng_seed: int = 0


def summarize(values: list[float], statistics: Statistics = Statistics()) -> Summary:
    """Mean, sample std (ddof=1) and percentile bootstrap interval of the mean; nan where undefined."""
    array = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = len(array)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(array.mean())
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    low, high = bootstrap_interval(array, statistics)
    return Summary(n, mean, float(array.std(ddof=1)), low, high)


def bootstrap_interval(values: np.ndarray, statistics: Statistics = Statistics()) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean: resample seeds with replacement, fixed RNG seed."""
    rng = np.random.default_rng(statistics.rng_seed)
    indices = rng.integers(0, len(values), size=(statistics.resamples, len(values)))  # (B, n)
    means = values[indices].mean(axis=1)  # (B,)
    tail = (1 - statistics.confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def paired_test(scores: dict[int, float], reference: dict[int, float], reference_label: str) -> PairedComparison:
    """Paired t-test of `scores` against `reference` over the seeds both have."""
    seeds = sorted(set(scores) & set(reference))
    if not seeds:
        return PairedComparison(reference_label, 0, math.nan, math.nan, math.nan, "no shared seeds")
    ours = np.array([scores[s] for s in seeds])
    theirs = np.array([reference[s] for s in seeds])
    differences = ours - theirs
    delta = float(differences.mean())
    if len(seeds) < 2:
        return PairedComparison(reference_label, 1, delta, math.nan, math.nan, "one pair")
    if np.ptp(differences) <= 1e-12 * max(1.0, float(np.abs(ours).max()), float(np.abs(theirs).max())):
        # Constant differences (up to float rounding): t is 0/0 or x/0, no test however large Δ looks.
        return PairedComparison(reference_label, len(seeds), delta, math.nan, math.nan, "zero variance")
    result = stats.ttest_rel(ours, theirs)
    return PairedComparison(reference_label, len(seeds), delta, float(result.statistic), float(result.pvalue))


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    if not isinstance(config, dict):
        return {prefix: config} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        flat.update(flatten(value, path) if isinstance(value, dict) else {path: value})
    return flat


def experiment_config(result: RunResult) -> dict[str, Any]:
    """The flattened config without run-only keys: what makes runs of one method differ."""
    return {
        key: value
        for key, value in flatten(result.config).items()
        if not any(part in RUN_ONLY_KEYS for part in key.split("."))
    }


def variant_id(result: RunResult) -> str:
    canonical = json.dumps(experiment_config(result), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def variant_labels(configs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """For configs of one method: a short "key=value, ..." label of only the keys that differ."""
    if len(configs) < 2:
        return {vid: "" for vid in configs}
    keys = sorted(set().union(*configs.values()))
    missing = object()
    differing = [k for k in keys if len({json.dumps(c.get(k, missing), default=str) for c in configs.values()}) > 1]
    last = [k.rsplit(".", 1)[-1] for k in differing]
    short = {k: (s if last.count(s) == 1 else k) for k, s in zip(differing, last)}
    return {
        vid: ", ".join(f"{short[k]}={config[k] if k in config else '(unset)'}" for k in differing)
        for vid, config in configs.items()
    }


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
    )


def _one_run_per_seed(runs: list[RunResult], notes: list[str]) -> list[RunResult]:
    """Two records of one configuration and seed (their configs differ only in run-only keys) count once."""
    by_seed: dict[int, RunResult] = {}
    for run in sorted(runs, key=lambda run: run.finished_at):
        if run.seed in by_seed:
            notes.append(
                f"{run.task}/{run.method}: seed {run.seed} recorded by runs {by_seed[run.seed].run_id} and "
                f"{run.run_id}; only the later one counts"
            )
        by_seed[run.seed] = run
    return list(by_seed.values())


def _choose_reference(groups: list[Group]) -> Group:
    """Among variants of the reference method, the one with the best dev mean (never chosen on test)."""
    return max(groups, key=lambda g: (-math.inf if math.isnan(g.dev.mean) else g.dev.mean, g.test.n))


def build_leaderboards(
    results: list[RunResult], reference: str | None = None, statistics: Statistics = Statistics()
) -> tuple[list[Leaderboard], list[str]]:
    """Group completed, scored records into one leaderboard per (task, metric); returns notes too."""
    notes: list[str] = []
    buckets: dict[tuple, list[RunResult]] = {}
    configs: dict[tuple, dict[str, dict[str, Any]]] = {}
    for result in results:
        vid = variant_id(result)
        buckets.setdefault((result.task, result.primary_metric, result.model, result.method, vid), []).append(result)
        configs.setdefault((result.task, result.primary_metric, result.model, result.method), {})[vid] = (
            experiment_config(result)
        )
    labels = {method_key: variant_labels(by_variant) for method_key, by_variant in configs.items()}
    groups = []
    for key, runs in sorted(buckets.items()):
        group = make_group(key, _one_run_per_seed(runs, notes), statistics)
        group.variant = labels[key[:4]][key[4]]
        groups.append(group)

    leaderboards = []
    for task, metric in sorted({(g.task, g.metric) for g in groups}):
        board = [g for g in groups if (g.task, g.metric) == (task, metric)]
        board.sort(key=lambda g: (-g.test.mean, g.method, g.model, g.variant))
        top = max(g.test.mean for g in board)
        for g in board:
            g.best = g.test.mean == top
        if reference is not None:
            _compare_with_reference(board, reference)
        leaderboards.append(Leaderboard(task, metric, board, reference))
    if reference is not None and not any(g.method == reference for g in groups):
        notes.append(f"reference method {reference!r} has no completed runs: no paired tests")
    return leaderboards, notes


def _compare_with_reference(board: list[Group], reference: str) -> None:
    for model in sorted({g.model for g in board}):
        on_model = [g for g in board if g.model == model]
        candidates = [g for g in on_model if g.method == reference]
        if not candidates:
            for g in on_model:
                g.comparison = PairedComparison(reference, 0, math.nan, math.nan, math.nan, "no reference runs")
            continue
        chosen = _choose_reference(candidates)
        chosen.is_reference = True
        for g in on_model:
            if g is not chosen:
                g.comparison = paired_test(g.test_scores, chosen.test_scores, chosen.label)
