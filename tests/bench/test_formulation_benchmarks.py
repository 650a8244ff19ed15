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
