"""The ptec benchmark on a tiny model: the three sides (PTEC one forward, PT and PT + trie
generating) are measured in one run, and the report states each one's latency, throughput and
generated tokens, and the latency ratio against the 0.2x target."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

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


def _fake_run(results: Path, work: Path, method: str, seed: int, m: int, state: dict) -> str:
    """A completed record and its best checkpoint, laid out as a sweep leaves them."""
    run_id = f"{method}-{seed}-{m}"
    record = {"status": "completed", "method": method, "seed": seed, "sweep": "fake_sweep", "run_id": run_id,
              "config": {"method": {"name": method, "num_virtual_tokens": m}}}
    (results / "fake_sweep" / run_id).mkdir(parents=True)
    (results / "fake_sweep" / run_id / "result.json").write_text(json.dumps(record))
    checkpoints = work / "fake_sweep" / run_id / "train" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save({"state_dict": state}, checkpoints / "best.ckpt")
    return run_id


PROMPT = "backbone.peft.prompt_encoder.default.embedding.weight"


def test_trained_sides_load_their_own_runs_prompt_and_head(data_root, tmp_path):
    """--trained: each side loads the prompt (PTEC also the head) of its run with the asked seed and m."""
    results, work, hidden, labels = tmp_path / "results", tmp_path / "outputs", 64, 22  # tiny_llama, hate speech
    ids = {}
    for method in ("ptec", "pt", "pt_trie"):
        for seed, m in ((1, 4), (2, 4), (1, 8)):  # only seed 1 with m = 4 is the one to load
            state = {PROMPT: torch.full((m, hidden), float(seed))}
            if method == "ptec":
                state |= {"head.weight": torch.zeros(labels, hidden), "head.bias": torch.zeros(labels)}
            run_id = _fake_run(results, work, method, seed, m, state)
            ids[(method, seed, m)] = run_id
    assert ptec.trained_run(results, work, "pt_trie", 4, 1)[0] == ids[("pt_trie", 1, 4)]
    out = tmp_path / "ptec.md"
    argv = ["--model", "tiny_llama", "--examples", "4", "--latency-examples", "2", "--train", "8", "--batch-size", "4",
            "--max-new-tokens", "4", "--rounds", "1", "--data-dir", str(data_root), "--out", str(out),
            "--virtual-tokens", "4", "--trained", str(results), "--work-dir", str(work)]  # fmt: skip
    assert ptec.main(argv) == 0
    report = out.read_text()
    for side, method in (("PTEC", "ptec"), ("PT", "pt"), ("PT + trie", "pt_trie")):
        assert f"{side} {ids[(method, 1, 4)]}" in report


def test_a_missing_or_mismatched_trained_run_stops_with_the_reason(tmp_path):
    results, work = tmp_path / "results", tmp_path / "outputs"
    _fake_run(results, work, "pt", 1, 4, {PROMPT: torch.zeros(4, 64)})
    with pytest.raises(SystemExit, match="no completed pt_trie run with seed 1 and num_virtual_tokens 4"):
        ptec.trained_run(results, work, "pt_trie", 4, 1)
    module = torch.nn.Module()
    module.register_parameter("weight", torch.nn.Parameter(torch.zeros(2)))
    _, checkpoint = ptec.trained_run(results, work, "pt", 4, 1)
    with pytest.raises(SystemExit, match="parameters this side does not have"):
        ptec.load_trained(module, checkpoint)


def test_loading_puts_the_checkpoints_values_into_the_module(tmp_path):
    module = torch.nn.Linear(3, 2)
    frozen_bias = module.bias.detach().clone()
    _fake_run(tmp_path / "r", tmp_path / "o", "ptec", 1, 4, {"weight": torch.full((2, 3), 7.0)})
    ptec.load_trained(module, ptec.trained_run(tmp_path / "r", tmp_path / "o", "ptec", 4, 1)[1])
    assert torch.equal(module.weight, torch.full((2, 3), 7.0))
    assert torch.equal(module.bias, frozen_bias)  # what the checkpoint does not hold stays as built
