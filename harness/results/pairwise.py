"""Every pair of a leaderboard's selected variants, by the same three tests as the reference columns.

The reference columns compare each row with one method. A reader asking "is unmasked LoRA better
than MiniLM?" needs the pair that holds neither reference: Dror et al. (2018) test each pair of
systems. Here, on one leaderboard, every two selected variants (the ones the report compares by
test score; search trials and losing variants are not compared) with a test score get:
- seeds: the paired t-test over the seeds both have (`seed_statistics.paired_test`);
- test examples: the paired bootstrap pooled over seeds (`example_significance`);
- seeds: Almost Stochastic Order, epsilon_min of the better side over the other (`aggregate`).
The side with the higher test mean is named first, so a positive Δ and ε_min < 0.5 read "better".
No multiple-comparison correction is applied: with m rows there are m(m-1)/2 pairs, and the table
says so; a reader comparing many pairs should correct (e.g. Holm-Bonferroni) before concluding.
Only the pairing is written here; the tests are those of the reference columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from harness.results.aggregate import Group, Leaderboard
from harness.results.seed_statistics import PairedComparison, Statistics, StochasticOrder, almost_stochastic_order, paired_test
from harness.results.example_significance import ExampleComparison, PredictionFiles, compare_on_examples

PAIRWISE_HEADERS = ["better (test mean)", "other", "Δ (seeds)", "p (seeds, t-test)",
                    "p (examples, paired bootstrap)", "ε_min (ASO, seeds)"]


@dataclass
class PairComparison:
    """Two selected variants of one leaderboard, the one with the higher test mean first."""

    first: Group
    second: Group
    seeds: PairedComparison  # first minus second
    examples: ExampleComparison
    stochastic_order: StochasticOrder  # epsilon_min of first over second


def pair_label(group: Group) -> str:
    """The group as a pair table names it: method, variant and model (pairs may cross models)."""
    return f"{group.label} · {group.model}"


def compared_groups(board: Leaderboard) -> list[Group]:
    """The selected variants with a test score, best test mean first (the board's order)."""
    return [g for g in board.groups if g.selected and g.test_scores]


def compare_pairs(board: Leaderboard, statistics: Statistics, predictions: PredictionFiles) -> list[PairComparison]:
    """Every pair of the board's compared groups (none with fewer than two)."""
    groups = compared_groups(board)
    pairs = []
    for first, second in combinations(groups, 2):
        if second.test.mean > first.test.mean:
            first, second = second, first
        pairs.append(PairComparison(
            first, second,
            paired_test(first.test_scores, second.test_scores, pair_label(second)),
            compare_on_examples(first.runs, second.runs, board.metric, pair_label(second), predictions,
                                statistics.resamples, statistics.rng_seed),
            almost_stochastic_order(list(first.test_scores.values()), list(second.test_scores.values()),
                                    pair_label(second), statistics),
        ))
    return pairs
