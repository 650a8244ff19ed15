"""The generation and multiple-choice benchmarks, run on a tiny model: their sides agree, and the
report says so (the real runs use SmolLM2; see the README's Benchmarks)."""

from __future__ import annotations

import re

import pytest

from harness.bench import generation, multiple_choice


def test_generation_benchmark_finds_batched_and_single_outputs_equal(data_root, tmp_path):
    out = tmp_path / "generation.md"
    argv = ["--model", "tiny_llama", "--examples", "5", "--batch-size", "3", "--max-new-tokens", "3"]
    assert generation.main([*argv, "--data-dir", str(data_root), "--out", str(out)]) == 0
    report = out.read_text()
    assert "outputs that differ between the two sides: 0 of 5" in report
    assert re.search(r"ratio batched / one at a time = \d+\.\d+x", report)


def test_multiple_choice_benchmark_finds_the_three_scorings_equal(data_root, tmp_path):
    out = tmp_path / "multiple_choice.md"
    argv = ["--model", "tiny_qwen2", "--questions", "5", "--questions-per-call", "2", "--rows-per-forward", "4"]
    assert multiple_choice.main([*argv, "--data-dir", str(data_root), "--out", str(out)]) == 0
    report = out.read_text()
    difference = float(re.search(r"max abs score difference = ([0-9.e+-]+)", report).group(1))
    assert difference < 1e-4
    assert "first 5 questions" in report


def test_precision_benchmark_reports_cost_and_dev_score_of_each_precision(data_root, tmp_path):
    from harness.bench import precision

    out = tmp_path / "precision.md"
    argv = ["--model", "tiny_llama", "--train", "16", "--dev", "8", "--batch-size", "8"]
    assert precision.main([*argv, "--data-dir", str(data_root), "--out", str(out)]) == 0
    rows = [line for line in out.read_text().splitlines() if re.match(r"\| (32-true|bf16-mixed|bf16-true) \|", line)]
    assert [row.split(" | ")[0] for row in rows] == ["| 32-true", "| bf16-mixed", "| bf16-true"]
    assert rows[0].split(" | ")[2] == "1.00x" and rows[0].endswith("+0.0000 |")  # fp32 against itself


def test_lofit_benchmark_times_both_sides_and_counts_k_times_head_dim(tmp_path):
    from harness.bench import lofit

    out = tmp_path / "lofit.md"
    argv = ["--model", "tiny_llama", "--heads", "3", "--compare-heads", "2,4", "--rounds", "2", "--length", "16"]
    assert lofit.main([*argv, "--out", str(out)]) == 0
    report = out.read_text()
    assert re.search(r"\| LoFiT offsets on 3 random heads \(\d layers hooked\) \| \d+\.\d \| \d+\.\d{3} \|", report)
    # tiny_llama: head_dim 16, so K heads train 16 K offsets; LoRA r=8 on q (64->64) and v (64->32), 4 layers
    assert "| LoFiT K=2 (stage 2) | 32 |" in report and "| LoFiT K=4 (stage 2) | 64 |" in report
    assert f"| LoRA r=8 on q, v | {4 * 8 * (64 + 64 + 64 + 32):,} | 1 |" in report


def test_prefix_cost_benchmark_measures_every_side_and_counts_their_parameters(tmp_path):
    from harness.bench import prefix_cost

    out = tmp_path / "prefix_cost.md"
    argv = ["--model", "tiny_llama", "--lengths", "16,4", "--batch-size", "2", "--length", "8", "--rounds", "2"]
    assert prefix_cost.main([*argv, "--out", str(out)]) == 0
    report = out.read_text()
    # tiny_llama: 4 layers, 2 KV heads of 16 dims: NTK 4 x 2 x (16^2 + 16); prefix 2 x 4 x m x 32
    rows = {}
    for name, trainable in (("unadapted", 0), ("NTK-attention", 2176), ("prefix tuning m=4", 1024), ("prefix tuning m=16", 4096)):
        match = re.search(rf"\| {name} \| {trainable:,} \| (\d+\.\d) \| \d+\.\d\d \| \d+\.\d\d \| (\d+\.\d) \| \d+\.\d \|", report)
        assert match, name
        rows[name] = float(match.group(2))
    assert rows["prefix tuning m=16"] > rows["prefix tuning m=4"] > 0  # longer prefix, more keys held
    assert re.search(r"NTK-attention step / unadapted step = \d+\.\d\dx \(target: at most 1\.2x\): (met|NOT met); per round \d+\.\d\d-\d+\.\d\dx \(2 rounds\)", report)
    assert "prefix tuning step at m = 16 / NTK-attention step" in report and "(measured at m = 16, not 1024)" in report
    assert (tmp_path / "prefix_cost.png").stat().st_size > 0 and (tmp_path / "prefix_cost.svg").stat().st_size > 0


def test_prefix_cost_ratio_range_pairs_rounds_not_sorted_lists():
    from harness.bench.prefix_cost import _ratio_range

    # paired by round: 4/2 and 3/3; pairing sorted lists instead would give 3/2 and 4/3
    assert _ratio_range([4.0, 3.0], [2.0, 3.0]) == "1.00-2.00x (2 rounds)"
    with pytest.raises(ValueError):
        _ratio_range([1.0], [1.0, 2.0])
