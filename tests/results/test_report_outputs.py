"""`python -m harness.report`: the files it writes, what they say, and the progress line."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results.collect import collect
from harness.results.plots import pareto_frontier
from harness.results.progress import progress, progress_line
from harness.results.report import main

PLOTS = [f"pareto_{name}.{ext}" for name in ("trainable_params", "peak_memory", "train_time") for ext in ("png", "svg")]


@pytest.fixture
def report(results_dir) -> Path:
    assert main([str(results_dir), "--reference", "ia3", "--resamples", "2000"]) == 0
    return results_dir / "report"


def test_every_file_is_written(report):
    for name in ["leaderboard.md", "leaderboard.csv", "failed_runs.md", "failed_runs.csv", "report.html"]:
        assert (report / name).stat().st_size > 0, name
    for name in ["leaderboard.md", "leaderboard.csv", "leaderboard.tex"] + PLOTS:
        assert (report / "conll2003" / name).stat().st_size > 0, name
    assert (report / "conll2003" / "pareto_train_time.png").read_bytes().startswith(b"\x89PNG")
    assert "<svg" in (report / "conll2003" / "pareto_train_time.svg").read_text()


def test_csv_holds_the_numbers_and_marks_the_best(report):
    rows = list(csv.DictReader((report / "conll2003" / "leaderboard.csv").open()))
    by_method = {row["method"]: row for row in rows}
    assert set(by_method) == {"lora", "ia3"}  # the failed run is not a row
    lora = by_method["lora"]
    assert lora["n_seeds"] == "3" and lora["seeds"] == "1 2 3"
    assert float(lora["test_mean"]) == pytest.approx(0.84)
    assert float(lora["test_std"]) == pytest.approx(0.04)
    assert (float(lora["ci_low"]), float(lora["ci_high"])) == pytest.approx((0.80, 0.88))
    assert lora["best"] == "True" and by_method["ia3"]["best"] == "False"
    assert lora["n_pairs"] == "3" and float(lora["p_seeds_ttest"]) == pytest.approx(1 - (27 / 29) ** 0.5)
    assert lora["examples_note"] == "no predictions" and lora["p_examples_bootstrap"] == "nan"  # records only
    assert 0 <= float(lora["aso_epsilon_min"]) <= 1
    assert by_method["ia3"]["is_reference"] == "True"


def test_markdown_and_latex_show_the_best_entry_and_the_test(report):
    markdown = (report / "conll2003" / "leaderboard.md").read_text()
    (best_row,) = [line for line in markdown.splitlines() if line.startswith("| ★")]
    assert "lora" in best_row and "**0.8400 ± 0.0400**" in best_row and "[0.8000, 0.8800]" in best_row
    assert "| +0.0300 (3 pairs) | 0.035 | no predictions |" in best_row
    assert "p (seeds, t-test)" in markdown and "p (examples, paired bootstrap)" in markdown
    assert "ε_min (ASO, seeds)" in markdown and "Koehn 2004" in markdown and "Dror et al. 2019" in markdown
    assert "4.19M" in best_row and "3.00 GiB" in best_row and "10.0 min" in best_row and "| 4.2 ms |" in best_row
    ia3_row = next(line for line in markdown.splitlines() if "| ia3 |" in line)
    assert ia3_row.endswith("| 6.7 min |  |")  # its records did not time evaluation: blank, not 0
    assert "reference" in next(line for line in markdown.splitlines() if "| ia3 |" in line)
    latex = (report / "conll2003" / "leaderboard.tex").read_text()
    assert r"\textbf{0.8400 $\pm$ 0.0400}" in latex and r"\toprule" in latex and r"$\star$" in latex
    text = "\n".join(line for line in latex.splitlines() if not line.startswith(r"\label"))  # labels may hold _
    assert r"test span\_f1" in text and "_" not in text.replace(r"\_", "")  # every other underscore escaped


def test_failures_are_listed_apart(report):
    failed = (report / "failed_runs.md").read_text()
    assert "OutOfMemoryError" in failed and "CUDA out of memory" in failed and "Tried to allocate" not in failed
    assert "0123456789abcdef" in failed and "no result.json" in failed
    overview = (report / "leaderboard.md").read_text()
    assert overview.index("Failed and incomplete runs") > overview.index("conll2003")


def test_html_is_self_contained(report):
    page = (report / "report.html").read_text()
    assert "<table>" in page and "OutOfMemoryError" in page and "<strong>0.8400 ± 0.0400</strong>" in page
    assert "http://" not in page and "https://" not in page
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page)
    assert len(sources) == 3 and all(s.startswith("data:image/svg+xml;base64,") for s in sources)
    assert "<script" not in page and "<link" not in page


def test_plots_are_reproducible(results_dir, report):
    first = (report / "conll2003" / "pareto_trainable_params.svg").read_bytes()
    main([str(results_dir), "--out", str(results_dir / "again")])
    assert (results_dir / "again" / "conll2003" / "pareto_trainable_params.svg").read_bytes() == first


def test_pareto_frontier():
    # (cost, score): the cheap weak point and the dear strong point are on it; the dominated one is not.
    points = [(10.0, 0.5), (100.0, 0.9), (50.0, 0.4), (10.0, 0.3), (0.0, 0.2), (200.0, 0.9)]
    assert pareto_frontier(points) == [4, 0, 1]


def test_progress_line_counts_and_estimates(tmp_path, make_record, write_record):
    root = tmp_path / "results"
    for seed, (start, end) in enumerate([("00", "10"), ("05", "20")], start=1):
        write_record(root, make_record("lora", seed, 0.8, started_at=f"2025-01-01T10:{start}:00+00:00",
                                finished_at=f"2025-01-01T10:{end}:00+00:00"))
    (root / "fixture_sweep" / "0123456789abcdef").mkdir()
    state = progress(collect(root), expected=6)
    # 2 runs in 20 minutes (first start to last finish) -> 10 minutes per run; 4 remaining -> 40 minutes.
    assert (state.done, state.failed, state.no_record, state.remaining) == (2, 0, 1, 4)
    assert state.eta_seconds == pytest.approx(40 * 60)
    assert progress_line(state) == "done 2, failed 0, no record 1, remaining 4 of 6, ETA 40m00s"


def test_watch_stops_when_the_expected_jobs_are_finished(results_dir, capsys):
    # 6 completed + 1 failed = 7 finished: with --expected 7 the first check is the last.
    assert main([str(results_dir), "--watch", "0.01", "--expected", "7", "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "done 6, failed 1, no record 1, remaining 0 of 7" in out
    assert (results_dir / "report" / "report.html").exists()


def test_module_entry_point(results_dir):
    completed = subprocess.run(
        [sys.executable, "-m", "harness.report", str(results_dir), "--no-plots", "--resamples", "100"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    assert completed.returncode == 0, completed.stderr
    assert "done 6, failed 1, no record 1" in completed.stdout


def test_missing_folder_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
