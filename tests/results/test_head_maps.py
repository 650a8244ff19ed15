"""LoFiT's selected heads in the report: the share of a row's seeds that chose each head, drawn as
a layer x head map beside the row's leaderboard."""

from __future__ import annotations

import json

from harness.results.seed_statistics import Statistics
from harness.results.head_maps import HEADS_ARTEFACT, find_head_files, selection_shares
from harness.results.record import run_dir
from harness.results.report import write_report


def _heads(path, chosen, selection="learned"):
    path.parent.mkdir(parents=True, exist_ok=True)
    heads = [{"rank": r, "layer": l, "head": h, "score": 1.0} for r, (l, h) in enumerate(chosen)]
    path.write_text(json.dumps({"selection": selection, "num_layers": 3, "num_heads": 2, "k": len(chosen), "heads": heads}))
    return path


def test_shares_count_each_seed_once_per_selected_head(tmp_path):
    files = [_heads(tmp_path / f"{s}.json", chosen) for s, chosen in enumerate([[(0, 1), (2, 0)], [(0, 1), (1, 1)]])]
    shares, k, way = selection_shares(files)
    assert shares == [[0.0, 1.0], [0.0, 0.5], [0.5, 0.0]]
    assert (k, way) == (2, "learned")


def test_report_draws_the_map_for_rows_with_heads_only(tmp_path, make_record, write_record):
    root = tmp_path / "results"
    for seed in (1, 2, 3):
        lofit = make_record("lofit", seed, 0.5 + seed / 100, 0.4)
        write_record(root, lofit)
        _heads(run_dir(root, lofit.sweep, lofit.run_id) / HEADS_ARTEFACT, [(seed % 3, 0), (0, 1)])
        write_record(root, make_record("lora", seed, 0.6, 0.5))
    files = find_head_files(root)
    assert len(files) == 3
    written, _ = write_report(root, root / "report", None, Statistics(resamples=200))
    maps = [p for p in written if p.stem == "lofit_heads"]
    assert sorted(p.suffix for p in maps) == [".png", ".svg"]
    assert "lofit_heads" in (root / "report" / "report.html").read_text()
