"""The ptec benchmark on a tiny model: the three sides (PTEC one forward, PT and PT + trie
generating) are measured in one run, and the report states each one's latency, throughput and
generated tokens, and the latency ratio against the 0.2x target."""

from __future__ import annotations

import re

from harness.bench import ptec


def test_ptec_benchmark_reports_the_three_sides_and_the_target(data_root, tmp_path):
    out = tmp_path / "ptec.md"
    argv = ["--model", "tiny_llama", "--examples", "8", "--latency-examples", "3", "--train", "8", "--batch-size", "4",
            "--max-new-tokens", "6", "--rounds", "1", "--data-dir", str(data_root), "--out", str(out)]  # fmt: skip
    assert ptec.main(argv) == 0
    report = out.read_text()
    rows = {}
    for side in ("PTEC", "PT", "PT + trie"):
        found = re.search(rf"^\| {re.escape(side)} \| (\d+\.\d) \| (\d+\.\d) \| (\d+\.\d) \| (\d+\.\d\d)x \|$", report, re.M)
        assert found, side
        rows[side] = [float(v) for v in found.groups()]
    assert rows["PTEC"][2] == 0.0  # one forward pass, nothing generated
    assert 0 < rows["PT + trie"][2] <= 6 and rows["PT + trie"][3] == 1.0
    ratio = re.search(r"\*\*PTEC latency / PT \+ trie latency = (\d+\.\d\d)x\*\* \(target <= 0\.2x: (met|NOT met)\)", report)
    assert ratio and (ratio.group(2) == "met") == (float(ratio.group(1)) <= 0.2)
