"""The loss_tail benchmark on a tiny model: the loss over the scored tail of the logits equals the
loss over all of them, the tail side makes a smaller logits tensor, and the report says so."""

from __future__ import annotations

import re

import pytest

from harness.bench import loss_tail
from harness.bench.__main__ import BENCHMARKS


@pytest.mark.parametrize("loss_mode", ["src", "mrc"])
def test_loss_tail_benchmark_sides_give_the_same_loss_from_fewer_logits(data_root, tmp_path, loss_mode):
    out = tmp_path / "loss_tail.md"
    argv = ["--model", "tiny_llama", "--steps", "2", "--batch-size", "4", "--train", "40", "--k", "2",
            "--max-length", "160", "--loss-mode", loss_mode, "--data-dir", str(data_root), "--out", str(out)]  # fmt: skip
    assert loss_tail.main(argv) == 0
    report = out.read_text()
    rows = {
        side: re.search(rf"\| {re.escape(label)} \| (\d+\.\d\d) \| ([\d,]+) \| (\d+\.\d\d)x \|", report)
        for side, (label, _) in loss_tail.SIDES.items()
    }
    assert all(rows.values()), report
    full_mib, tail_mib = (float(rows[side].group(2).replace(",", "")) for side in ("full", "tail"))
    assert 0 < tail_mib < full_mib  # the query's response, or the first demonstration's, starts after position 0
    assert rows["full"].group(3) == "1.00"
    gap = float(re.search(r"largest loss difference (\S+)", report).group(1))
    assert gap < 1e-4
    assert f"loss_mode={loss_mode}" in report
    assert BENCHMARKS["loss_tail"] is loss_tail.main
