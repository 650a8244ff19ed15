"""Score against a swept setting: which variants make a curve, what each line holds, and the plot files."""

from __future__ import annotations

import pytest

from harness.results.aggregate import build_leaderboards
from harness.results.seed_statistics import Statistics
from harness.results.setting_curves import setting_curves, write_setting_curves_plot

STATS = Statistics(resamples=200)


def _board(records):
    (board,), _ = build_leaderboards(records, None, STATS)
    return board


def _context_study(make_record, ks=(0, 1, 2, 4), seeds=(1, 2)):
    """icl over k with the instruction off and on; the score rises with k, the instruction costs 0.05."""
    return [
        make_record("icl", seed, 0.1 * k + 0.01 * seed - 0.05 * instruction, 0.1 * k,
                    config={"k": k, "instruction": instruction})
        for k in ks for instruction in (False, True) for seed in seeds
    ]  # fmt: skip


def test_a_context_study_is_one_line_per_instruction_setting_against_k(make_record):
    (curve,) = setting_curves(_board(_context_study(make_record)))
    assert curve.key == "method.k" and curve.split == "test"
    lines = {line.label: line for line in curve.lines}
    assert set(lines) == {"icl, instruction=False", "icl, instruction=True"}
    off = lines["icl, instruction=False"]
    assert off.xs == [0, 1, 2, 4]
    assert off.ys == pytest.approx([0.015, 0.115, 0.215, 0.415])  # mean of seeds 1 and 2
    assert off.errors == pytest.approx([0.00707107] * 4, abs=1e-6)  # sample std of 0.01 apart
    assert lines["icl, instruction=True"].ys == pytest.approx([y - 0.05 for y in off.ys])


def test_dev_is_plotted_when_a_point_has_no_test_score(make_record):
    """A learning-rate search: trials scored on dev only."""
    records = [make_record("lora", 1, None, dev, config={"lr": lr}) for lr, dev in ((1e-4, 0.3), (1e-3, 0.6), (1e-2, 0.5))]
    (curve,) = setting_curves(_board(records))
    assert curve.split == "dev" and curve.key == "method.lr" and curve.lines[0].ys == [0.3, 0.6, 0.5]


@pytest.mark.parametrize("case", ["two values", "two numeric settings", "not numeric"])
def test_no_curve_where_the_variants_do_not_sweep_one_numeric_setting(make_record, case):
    configs = {
        "two values": [{"k": 1}, {"k": 2}],
        "two numeric settings": [{"k": 1, "m": 1}, {"k": 2, "m": 2}, {"k": 3, "m": 3}],
        "not numeric": [{"loss": "src"}, {"loss": "mrc"}, {"loss": "vanilla"}],
    }[case]
    records = [make_record("sift", 1, 0.5 + 0.01 * i, 0.5, config=c) for i, c in enumerate(configs)]
    assert setting_curves(_board(records)) == []


def test_the_plot_is_written_only_where_there_is_a_curve(make_record, tmp_path):
    written = write_setting_curves_plot(_board(_context_study(make_record)), tmp_path / "a")
    assert [p.name for p in written] == ["setting_curves.png", "setting_curves.svg"]
    assert "<svg" in written[1].read_text()
    assert write_setting_curves_plot(_board([make_record("lora", 1, 0.5, 0.5)]), tmp_path / "b") == []
