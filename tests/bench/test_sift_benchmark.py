"""The sift benchmark on a tiny model: its three sides (one sentence per call, batched, batched with
the shared-prefix cache) give the same responses, and the report states the speed-ups and target."""

from __future__ import annotations

import re

import pytest

from harness.bench import sift
from harness.bench.__main__ import BENCHMARKS


@pytest.mark.parametrize("constrained", [False, True], ids=["free", "constrained"])
def test_sift_benchmark_sides_agree_and_report_the_speed_up(data_root, tmp_path, constrained):
    out = tmp_path / "sift.md"
    argv = ["--model", "tiny_llama", "--examples", "5", "--train", "40", "--k", "2", "--batch-size", "3",
            "--max-new-tokens", "6", "--max-length", "160", "--data-dir", str(data_root), "--out", str(out)]  # fmt: skip
    argv.append("--constrained" if constrained else "--no-constrained")
    assert sift.main(argv) == 0
    report = out.read_text()
    assert "sentences whose responses differ from one at a time: 0 of 5" in report
    for label in ("one sentence per call", "batches of 3, left-padded, KV cache", "batches of 3 + shared-prefix KV cache"):
        assert re.search(rf"\| {re.escape(label)} \| \d+\.\d \| \d+\.\d\d \| [\d,]+ \| \d+ \| \d+\.\d\dx \|", report), label
    assert re.search(r"best batched side / one at a time = \d+\.\d\dx\*\* \(target >= 2x at k = 8: (met|NOT met)\)", report)
    shared = re.search(r"shared prefix per batch: (\d+)-(\d+) tokens", report)
    assert int(shared.group(1)) > 20  # the instruction and both fixed demonstrations
    assert f"constrained decoding {'on' if constrained else 'off'}" in report
    assert BENCHMARKS["sift"] is sift.main
