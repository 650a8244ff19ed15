"""The report's numbers against values computed by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from harness.results.aggregate import Statistics, build_leaderboards, paired_test, summarize
from harness.results.collect import collect

# The fixture sweep's test scores by seed (see conftest.py).
LORA_TEST = {1: 0.80, 2: 0.84, 3: 0.88}
IA3_TEST = {1: 0.78, 2: 0.80, 3: 0.85}


def test_mean_and_sample_std_by_hand():
    # lora: 0.80, 0.84, 0.88 -> mean 0.84; deviations -0.04, 0, 0.04 -> var (0.0016 + 0.0016) / 2 = 0.0016
    lora = summarize(list(LORA_TEST.values()))
    assert lora.n == 3
    assert lora.mean == pytest.approx(0.84)
    assert lora.std == pytest.approx(0.04)
    # ia3: 0.78, 0.80, 0.85 -> mean 0.81; deviations -0.03, -0.01, 0.04 -> var 0.0026 / 2 = 0.0013
    ia3 = summarize(list(IA3_TEST.values()))
    assert ia3.mean == pytest.approx(0.81)
    assert ia3.std == pytest.approx(math.sqrt(0.0013))


def test_bootstrap_interval_of_three_seeds_is_their_range():
    # With three seeds, the resample "same seed three times" has probability 1/27 = 3.7% > 2.5% for each
    # extreme, so the 2.5th and 97.5th percentiles of the bootstrap means are exactly the min and the max.
    lora = summarize(list(LORA_TEST.values()))
    assert lora.ci_low == pytest.approx(0.80)
    assert lora.ci_high == pytest.approx(0.88)
    assert lora.ci_low <= lora.mean <= lora.ci_high


def test_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    values = [0.70, 0.74, 0.75, 0.79, 0.82]
    # mean 0.76; squared deviations 0.0036 + 0.0004 + 0.0001 + 0.0009 + 0.0036 = 0.0086, / 4 = 0.00215
    summary = summarize(values)
    assert summary.mean == pytest.approx(0.76)
    assert summary.std == pytest.approx(math.sqrt(0.00215))
    # All 5^5 equally likely resamples, enumerated: the exact bootstrap distribution of the mean.
    exact = np.array([np.mean(r) for r in itertools.product(values, repeat=5)])
    # 10,000 Monte Carlo resamples put the 2.5% level within +-0.5% (over 3 standard errors) of it.
    assert np.quantile(exact, 0.020) - 1e-12 <= summary.ci_low <= np.quantile(exact, 0.030) + 1e-12
    assert np.quantile(exact, 0.970) - 1e-12 <= summary.ci_high <= np.quantile(exact, 0.980) + 1e-12
    # A fixed RNG seed: the same interval every time.
    assert summarize(values) == summary


def test_wider_confidence_gives_a_wider_interval():
    values = [0.70, 0.74, 0.75, 0.79, 0.82]
    narrow = summarize(values, Statistics(confidence=0.5))
    wide = summarize(values, Statistics(confidence=0.95))
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high


def test_one_seed_has_no_std_and_no_interval():
    single = summarize([0.9])
    assert single.n == 1 and single.mean == 0.9
    assert math.isnan(single.std) and math.isnan(single.ci_low) and math.isnan(single.ci_high)


def test_paired_t_test_by_hand():
    # Differences lora - ia3 by seed: 0.02, 0.04, 0.03 -> mean 0.03, sd 0.01, t = 0.03 / (0.01 / sqrt 3) = sqrt 27.
    # Student t with 2 degrees of freedom has cdf 1/2 + t / (2 sqrt(2 + t^2)), so p = 1 - t / sqrt(2 + t^2)
    # = 1 - sqrt(27 / 29).
    result = paired_test(LORA_TEST, IA3_TEST, "ia3")
    assert result.n_pairs == 3
    assert result.delta == pytest.approx(0.03)
    assert result.t_statistic == pytest.approx(math.sqrt(27))
    assert result.p_value == pytest.approx(1 - math.sqrt(27 / 29))


def test_paired_test_uses_only_shared_seeds_and_says_when_it_cannot():
    result = paired_test({1: 0.9, 2: 0.8, 7: 0.1}, {1: 0.85, 2: 0.8, 9: 0.99}, "ref")
    assert result.n_pairs == 2 and result.delta == pytest.approx(0.025)
    one = paired_test({1: 0.9}, {1: 0.8}, "ref")
    assert one.n_pairs == 1 and math.isnan(one.p_value) and one.note == "one pair"
    none = paired_test({1: 0.9}, {2: 0.8}, "ref")
    assert none.n_pairs == 0 and math.isnan(none.delta) and math.isnan(none.p_value)
    constant = paired_test({1: 0.9, 2: 0.8}, {1: 0.8, 2: 0.7}, "ref")
    assert math.isnan(constant.p_value) and constant.note == "zero variance"


def test_leaderboard_from_records(results_dir):
    collection = collect(results_dir)
    (board,), _ = build_leaderboards(collection.completed, reference="ia3")
    lora, ia3 = board.groups  # best test mean first
    assert (lora.method, ia3.method) == ("lora", "ia3")
    assert lora.best and not ia3.best
    assert lora.test.n == 3 and lora.seeds == [1, 2, 3]  # the failed seed 4 is not among them
    assert lora.test.mean == pytest.approx(0.84) and lora.test.std == pytest.approx(0.04)
    assert lora.dev.mean == pytest.approx(0.72)
    assert ia3.is_reference and ia3.comparison is None
    assert lora.comparison.p_value == pytest.approx(1 - math.sqrt(27 / 29))
    assert lora.trainable_params == 4_194_304 and lora.peak_memory_bytes == 3 * 2**30


def test_runs_differing_in_config_are_separate_variants_and_seeds_are_one_group(make_record):
    records = [make_record("lora", s, 0.8 + s / 100, config={"r": r, "lr": 1e-4}) for s in (1, 2) for r in (8, 16)]
    (board,), _ = build_leaderboards(records)
    assert len(board.groups) == 2
    assert sorted(g.variant for g in board.groups) == ["r=16", "r=8"]
    assert all(g.test.n == 2 for g in board.groups)


def test_reference_variant_is_chosen_on_dev_not_test(make_record):
    records = [make_record("lora", s, 0.90, 0.60, config={"r": 8}) for s in (1, 2)]  # best test, worse dev
    records += [make_record("lora", s, 0.70, 0.65, config={"r": 16}) for s in (1, 2)]
    (board,), _ = build_leaderboards(records, reference="lora")
    (reference,) = [g for g in board.groups if g.is_reference]
    assert reference.variant == "r=16"


def test_ties_for_best_are_all_marked(make_record):
    records = [make_record(m, s, 0.8) for m in ("lora", "ia3") for s in (1, 2)]
    (board,), _ = build_leaderboards(records)
    assert all(g.best for g in board.groups)


def test_run_only_keys_do_not_split_groups_and_a_seed_counts_once(make_record):
    # harness.run records the whole resolved config: sweep, paths and logger vary, the experiment does not.
    records = []
    for sweep, score, finished_at in (("first", 0.80, "2025-01-01T00:00:00+00:00"),
                                      ("second", 0.90, "2025-02-01T00:00:00+00:00")):
        for seed in (1, 2):
            record = make_record("lora", seed, score, finished_at=finished_at)
            record.config.update(sweep=sweep, paths={"results_dir": f"/r/{sweep}"}, logger={"wandb": True})
            record.sweep = sweep
            records.append(record)
    (board,), notes = build_leaderboards(records)
    (group,) = board.groups
    assert group.test.n == 2 and group.test.mean == pytest.approx(0.90)  # the later record of each seed
    assert len(notes) == 2 and "only the later one counts" in notes[0]
