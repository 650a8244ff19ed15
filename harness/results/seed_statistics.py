"""Statistics of scores over seeds: the summary of one configuration (mean, sample std, bootstrap
interval of the mean) and two seed-level tests against a reference, the paired t-test
(scipy.stats.ttest_rel) and Almost Stochastic Order (deepsig.aso). Only the plumbing is written
here; the tests are scipy's and deepsig's. `aggregate` applies them to leaderboard groups."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats


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
    """A group against the reference by the seed-level paired t-test, over the seeds both have."""

    reference: str  # the reference group's label
    n_pairs: int
    delta: float  # mean of (group - reference) over the paired seeds; nan without pairs
    t_statistic: float  # nan with fewer than two pairs or zero variance of the differences
    p_value: float
    note: str = ""  # why the test is n/a, when it is
    reference_model: str = ""  # set when the reference ran on another model (no reference on this one)


ASO_MIN_SEEDS = 3  # per side: ASO compares two score distributions, and two seeds are no distribution
# deepsig integrates over quantile levels in steps of dt (default 0.005) with a slow per-point quantile
# function; 0.01 halves the cost and moves epsilon_min by under 0.01 on three-seed step functions.
ASO_DT = 0.01


@dataclass
class StochasticOrder:
    """Almost Stochastic Order of a group's seed scores over the reference's (Dror et al. 2019)."""

    reference: str
    n_seeds: int
    n_reference_seeds: int
    epsilon_min: float  # upper bound of the violation ratio; < 0.5: the group is better; nan: not computed
    note: str = ""  # why it was not computed


@dataclass
class Statistics:
    """How the numbers are computed; printed under every table."""

    confidence: float = 0.95
    resamples: int = 10_000
    rng_seed: int = 0
    aso_iterations: int = 500  # ASO's bootstrap of its violation ratio (deepsig's default 1000): ~0.6 s a test


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


def almost_stochastic_order(
    scores: list[float], reference: list[float], reference_label: str, statistics: Statistics = Statistics()
) -> StochasticOrder:
    """epsilon_min of ASO (Dror et al. 2019, as deepsig.aso computes it; Ulmer et al. 2022): how far
    the distribution of `scores` is from stochastically dominating `reference`'s. 0 = dominates,
    < 0.5 = better (reject "not better" at `statistics.confidence`), 0.5 = indistinguishable,
    near 1 = not better. Seeds need not pair. Fixed seed: the same epsilon on every report."""
    n, m = len(scores), len(reference)
    if min(n, m) < ASO_MIN_SEEDS:
        return StochasticOrder(reference_label, n, m, math.nan, f"fewer than {ASO_MIN_SEEDS} seeds")
    from deepsig import aso  # imports torch: only when a comparison needs it

    state = np.random.get_state()  # deepsig seeds numpy's global RNG; leave it as it was
    try:
        with warnings.catch_warnings():
            # Identical score distributions divide 0 by 0; deepsig warns and defines the ratio as 0.5.
            warnings.simplefilter("ignore")
            epsilon = aso(
                scores, reference, confidence_level=statistics.confidence,
                num_bootstrap_iterations=statistics.aso_iterations, dt=ASO_DT, seed=statistics.rng_seed,
                show_progress=False,
            )
    finally:
        np.random.set_state(state)
    return StochasticOrder(reference_label, n, m, float(epsilon))
