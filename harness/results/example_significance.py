"""Paired bootstrap over test examples against the reference method, pooled over seeds.

A seed-level test has as many observations as seeds (often three); the test set has hundreds or
thousands. Koehn (2004) resamples test examples with replacement and counts the resamples in which
one system no longer beats the other; Dror et al. (2018) recommend this paired bootstrap for
metrics without a known distribution (F1, BLEU). Here both methods have several seeds, so each
resample scores every seed of each method on the same examples and averages over seeds per method:

    for b in 1..B:  draw N example indices with replacement (the same draw for both methods)
                    delta_b = mean_s metric(seed s of the method on the draw)
                            - mean_s metric(seed s of the reference on the draw)

Examples are paired by their ``id``: only ids in the test rows of every run on both sides count.
The corpus metric is recomputed on each draw from per-example sufficient statistics
(`harness.results.example_statistics`), so a draw costs one matrix product per seed.

The p-value is TWO-SIDED, as the seed-level t-test's: p = min(1, 2 * min(P(delta_b <= 0),
P(delta_b >= 0))), each tail counted as (count + 1) / (B + 1) so that a finite B never reports 0.
The smaller tail is Koehn's share of resamples in which the observed advantage disappears (or the
observed deficit does); doubling it makes the test two-sided. Identical predictions give delta_b = 0
on every draw, so both tails are 1 and p = 1. This is the percentile-interval form of the test, not
Berg-Kirkpatrick et al.'s (2012) shifted null, which asks the same question with a recentred
distribution.

Runs without ``predictions.jsonl`` (records written before per-example predictions) are left out; a
method with no such run gets no example-level test ("no predictions"). The resampling is
hand-written (numpy): scipy.stats.bootstrap resamples one statistic of given samples and has no
paired, seed-pooled corpus-metric form, and deepsig has no paired example bootstrap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.results.collect import primary_score
from harness.results.example_statistics import CorpusMetric, corpus_metric
from harness.results.record import PREDICTIONS_FILE, RESULT_FILE, RunResult

# How far a recomputed test score may lie from the record's: predictions.jsonl rounds multiple-choice
# log-likelihoods to 4 decimals, which moves MC2 by about 1e-6.
REPRODUCTION_TOLERANCE = 1e-4
TIE = 1e-12  # |delta_b| below this is a tie (the same score reached by different float arithmetic)
CELLS_PER_CHUNK = 4_000_000  # resamples x examples drawn at once: bounds memory on large test sets


@dataclass
class ExampleComparison:
    """A group against the reference by the paired bootstrap over test examples, pooled over seeds."""

    reference: str  # the reference group's label
    n_examples: int  # test examples paired by id (0: no test)
    n_seeds: int  # this group's runs with predictions
    n_reference_seeds: int  # the reference's runs with predictions
    delta: float  # mean over seeds of the metric, group minus reference, on the paired examples
    p_value: float  # two-sided; nan when not computed (see note)
    resamples: int = 0
    note: str = ""  # why there is no test ("no predictions", ...), or what to know about it


@dataclass
class SeedStatistics:
    """One run's per-example statistics for one metric, by example id."""

    run: RunResult
    metric: CorpusMetric
    ids: list[str]
    values: np.ndarray  # (N, K)

    def on(self, ids: Sequence[str]) -> np.ndarray:
        """(len(ids), K): the rows of these example ids, in that order."""
        position = {example_id: i for i, example_id in enumerate(self.ids)}
        return self.values[[position[example_id] for example_id in ids]]


def find_prediction_files(root: str | Path, exclude: Sequence[str | Path] = ()) -> dict[str, Path]:
    """Run id -> predictions.jsonl of every completed record under `root`, outside hidden and
    `exclude`d folders (where the same run id is found twice, the first in path order counts)."""
    root = Path(root).resolve()
    excluded = [Path(p).resolve() for p in exclude]
    found: dict[str, Path] = {}
    for path in sorted(root.rglob(PREDICTIONS_FILE)):
        folder = path.parent
        if any(part.startswith(".") for part in folder.relative_to(root).parts):
            continue
        if any(folder == other or other in folder.parents for other in excluded):
            continue
        try:
            record = json.loads((folder / RESULT_FILE).read_text())
        except (OSError, ValueError):
            continue
        if record.get("status") == "completed" and isinstance(record.get("run_id"), str):
            found.setdefault(record["run_id"], path)
    return found


class PredictionFiles:
    """The test rows of each run's predictions.jsonl, read once per report, and their statistics."""

    def __init__(self, paths: Mapping[str, Path]):
        self.paths = dict(paths)
        self._rows: dict[str, list[dict]] = {}
        self._statistics: dict[tuple[str, str], SeedStatistics | None] = {}

    def test_rows(self, run: RunResult) -> list[dict] | None:
        path = self.paths.get(run.run_id)
        if path is None:
            return None
        if run.run_id not in self._rows:
            with path.open(encoding="utf-8") as handle:
                rows = [json.loads(line) for line in handle if line.strip()]
            self._rows[run.run_id] = [row for row in rows if row.get("split") == "test"]
        return self._rows[run.run_id]

    def statistics(self, run: RunResult, metric: str) -> SeedStatistics | None:
        """None without predictions or without a definition of `metric` that the rows can feed."""
        key = (run.run_id, metric)
        if key not in self._statistics:
            rows, definition = self.test_rows(run), corpus_metric(run, metric)
            self._statistics[key] = None if rows is None or definition is None else SeedStatistics(
                run, definition, [str(row["id"]) for row in rows], definition.statistics(rows)
            )
        return self._statistics[key]


def resample_weights(rng: np.random.Generator, resamples: int, n: int) -> np.ndarray:
    """(resamples, n): how often each example is drawn when n examples are drawn with replacement."""
    indices = rng.integers(0, n, size=(resamples, n))  # (B, N)
    offsets = (np.arange(resamples) * n)[:, None]
    return np.bincount((indices + offsets).ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)


def side_score(side: Sequence[tuple[CorpusMetric, np.ndarray]], weights: np.ndarray) -> np.ndarray:
    """(B,): the metric of each seed on each weighted resample, averaged over the seeds."""
    return np.mean([metric.score(weights @ values) for metric, values in side], axis=0)  # (S, B) -> (B,)


def paired_bootstrap(
    ours: Sequence[tuple[CorpusMetric, np.ndarray]],
    theirs: Sequence[tuple[CorpusMetric, np.ndarray]],
    resamples: int,
    rng_seed: int = 0,
) -> tuple[float, float]:
    """(delta, two-sided p) of `ours` minus `theirs`: each side a list of (metric, (N, K) statistics),
    one per seed, rows paired by example (see the module docstring)."""
    n = len(ours[0][1])
    delta = float(side_score(ours, np.ones((1, n)))[0] - side_score(theirs, np.ones((1, n)))[0])
    rng = np.random.default_rng(rng_seed)
    at_most_zero = at_least_zero = 0
    chunk = max(1, CELLS_PER_CHUNK // max(n, 1))
    for start in range(0, resamples, chunk):
        weights = resample_weights(rng, min(chunk, resamples - start), n)
        deltas = side_score(ours, weights) - side_score(theirs, weights)  # (b,)
        at_most_zero += int((deltas <= TIE).sum())
        at_least_zero += int((deltas >= -TIE).sum())
    tail = (min(at_most_zero, at_least_zero) + 1) / (resamples + 1)
    return delta, min(1.0, 2 * tail)


def _not_reproduced(seeds: Sequence[SeedStatistics], n_examples: int) -> str:
    """A run whose rows do not give back its recorded test score (another definition, other rows)."""
    for seed in seeds:
        if len(seed.ids) != n_examples:
            continue  # scored on fewer paired examples than it has: its record need not match
        recorded = primary_score(seed.run, "test")
        recomputed = float(seed.metric.score(seed.values.sum(axis=0)))
        if recorded is not None and abs(recomputed - recorded) > REPRODUCTION_TOLERANCE:
            return f"predictions of run {seed.run.run_id} give {recomputed:.4f}, its record {recorded:.4f}"
    return ""


def compare_on_examples(
    runs: Sequence[RunResult],
    reference_runs: Sequence[RunResult],
    metric: str,
    reference_label: str,
    files: PredictionFiles,
    resamples: int,
    rng_seed: int = 0,
) -> ExampleComparison:
    """The paired bootstrap over test examples of `runs` against `reference_runs` on `metric`."""
    ours = [s for s in (files.statistics(run, metric) for run in runs) if s is not None]
    theirs = [s for s in (files.statistics(run, metric) for run in reference_runs) if s is not None]

    def untested(note: str, n_examples: int = 0) -> ExampleComparison:
        return ExampleComparison(reference_label, n_examples, len(ours), len(theirs), math.nan, math.nan, 0, note)

    if not ours or not theirs:
        undefined = any(
            files.test_rows(run) is not None and corpus_metric(run, metric) is None for run in (*runs, *reference_runs)
        )
        return untested(f"{metric} not recomputable from predictions" if undefined else "no predictions")
    shared = set(ours[0].ids).intersection(*(s.ids for s in (*ours[1:], *theirs)))
    ids = [example_id for example_id in ours[0].ids if example_id in shared]
    if not ids:
        return untested("no test examples shared by id")
    problem = _not_reproduced([*ours, *theirs], len(ids))
    if problem:
        return untested(problem, len(ids))
    delta, p_value = paired_bootstrap(
        [(s.metric, s.on(ids)) for s in ours], [(s.metric, s.on(ids)) for s in theirs], resamples, rng_seed
    )
    missing = len(runs) - len(ours) + len(reference_runs) - len(theirs)
    note = f"{missing} run(s) without predictions left out" if missing else ""
    return ExampleComparison(reference_label, len(ids), len(ours), len(theirs), delta, p_value, resamples, note)
