"""The generation and multiple-choice benchmarks, run on a tiny model: their sides agree, and the
report says so (the real runs use SmolLM2; see the README's Benchmarks)."""

from __future__ import annotations

import re

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
