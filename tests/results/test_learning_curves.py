"""Learning curves and the not-converged mark: the verdict on hand-made dev histories, the x axis
(counted examples, or the estimate for older records), the † in every table, and the figure files."""

from __future__ import annotations

import csv
import re

import pytest
from matplotlib.text import Text

from harness.results.aggregate import build_leaderboards
from harness.results.learning_curves import not_converged, run_curve, still_rising
from harness.results.plots import learning_curve_figure
from harness.results.record import iter_results
from harness.results.report import main


def _history(scores, per_step=8, counted=True):
    """One dev evaluation every 10 optimizer steps, as the lifecycle records them."""
    return [
        {"step": 10 * (i + 1), "span_f1": score, **({"examples_seen": 10 * (i + 1) * per_step} if counted else {})}
        for i, score in enumerate(scores)
    ]


def _with_history(record, scores, counted=True):
    record.stages = [{"name": "train", "dev_history": _history(scores, counted=counted)}]
    return record


@pytest.mark.parametrize(
    ("scores", "verdict"),
    [
        ([0.50, 0.60, 0.70], True),  # best at the last evaluation, above the one before: still rising
        ([0.50, 0.70, 0.65], False),  # best earlier: a peak passed
        ([0.50, 0.70, 0.70], False),  # flat end: the last ties the best, it does not beat it
        ([0.70, 0.50, 0.70], False),  # back to an earlier best, not above it
        ([0.60], None),  # one evaluation has no direction: not judged, neither way
        ([], None),
    ],
)
def test_still_rising(scores, verdict):
    assert still_rising(scores) is verdict


def test_a_group_is_not_converged_when_any_seed_is(make_record):
    rising = _with_history(make_record("lora", 1, 0.8, 0.7), [0.5, 0.6, 0.7])
    peaked = _with_history(make_record("lora", 2, 0.8, 0.7), [0.5, 0.7, 0.6])
    single = _with_history(make_record("lora", 3, 0.8, 0.7), [0.7])
    assert not_converged([rising, peaked, single]) is True
    assert not_converged([peaked, single]) is False  # the unjudged seed does not count either way
    assert not_converged([single]) is None
    assert not_converged([make_record("lora", 4, 0.8, 0.7)]) is None  # a record with no dev history


def test_the_curve_is_read_from_the_tested_stage(make_record):
    record = make_record("lofit", 1, 0.8, 0.7)
    record.stages = [
        {"name": "select", "dev_history": _history([0.1, 0.2])},
        {"name": "train", "dev_history": _history([0.5, 0.7, 0.6])},
    ]
    curve = run_curve(record)
    assert curve.scores == [0.5, 0.7, 0.6] and curve.examples_seen == [80, 160, 240] and not curve.estimated


def test_older_records_estimate_examples_from_steps(make_record):
    record = _with_history(make_record("lora", 1, 0.8, 0.7), [0.5, 0.6], counted=False)
    record.config["trainer"] = {"batch_size": 16, "accumulate_grad_batches": 2, "devices": 1}
    curve = run_curve(record)
    assert curve.estimated and curve.examples_seen == [10 * 16 * 2, 20 * 16 * 2]
    del record.config["trainer"]  # without a batch size there is no honest estimate
    assert run_curve(record) is None


@pytest.fixture
def curve_results(tmp_path, make_record, write_record):
    """Three seeds of lora (seed 2 still rising at its last evaluation) and of ia3 (every seed past
    its peak; seed 3 recorded steps only), two of full (one dev evaluation each), and a zero-shot
    run with no history."""
    root = tmp_path / "results"
    lora = {1: [0.60, 0.72, 0.70], 2: [0.60, 0.68, 0.72], 3: [0.65, 0.74, 0.74]}
    ia3 = {1: [0.60, 0.69, 0.68], 2: [0.62, 0.70, 0.69], 3: [0.66, 0.74, 0.73]}
    for seed in (1, 2, 3):
        write_record(root, _with_history(make_record("lora", seed, 0.80 + seed / 100, max(lora[seed])), lora[seed]))
        ia3_record = make_record("ia3", seed, 0.78 + seed / 100, max(ia3[seed]))
        ia3_record.config["trainer"] = {"batch_size": 8, "accumulate_grad_batches": 1}
        write_record(root, _with_history(ia3_record, ia3[seed], counted=seed != 3))
    for seed in (1, 2):
        write_record(root, _with_history(make_record("full", seed, 0.70, 0.60 + seed / 100), [0.60 + seed / 100]))
    write_record(root, make_record("zero_shot", 1, 0.40, 0.35))
    return root


def _board(root):
    (board,), _ = build_leaderboards([record for _, record in iter_results(root)])
    return board


def test_the_mark_is_in_every_table(curve_results):
    verdicts = {g.method: g.not_converged for g in _board(curve_results).groups}
    assert verdicts == {"lora": True, "ia3": False, "full": None, "zero_shot": None}

    assert main([str(curve_results), "--resamples", "200"]) == 0
    out = curve_results / "report" / "conll2003"
    markdown = (out / "leaderboard.md").read_text()
    assert re.search(r"^\| ★ \| lora † \|", markdown, re.MULTILINE)
    assert "| ia3 |" in markdown and "| full |" in markdown and "| zero_shot |" in markdown
    assert "† = not converged" in markdown and "Convergence not judged for 2 rows" in markdown
    rows = {row["method"]: row["not_converged"] for row in csv.DictReader((out / "leaderboard.csv").open())}
    assert rows == {"lora": "True", "ia3": "False", "full": "", "zero_shot": ""}  # blank: not judged
    latex = (out / "leaderboard.tex").read_text()
    assert r"lora \dag{}" in latex and "†" not in latex
    page = (curve_results / "report" / "report.html").read_text()
    assert "lora †" in page and "† = not converged" in page


def test_the_figure_draws_one_line_per_seed_and_says_what_it_estimates(curve_results):
    figure = learning_curve_figure(_board(curve_results))
    lines = figure.axes[0].get_lines()
    points = sorted(len(line.get_xdata()) for line in lines)
    assert points == [1, 1, 3, 3, 3, 3, 3, 3]  # full's single evaluations are single points
    estimated = [line for line in lines if line.get_linestyle() == "--"]
    assert len(estimated) == 1 and list(estimated[0].get_xdata()) == [80, 160, 240]  # ia3 seed 3: steps x 8
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["lora †", "ia3", "full"]  # one entry per group, the mark on the rising one
    footnote = " ".join(t.get_text() for t in figure.findobj(Text)).replace("\n", " ")
    assert "† not converged" in footnote and "1 run recorded before examples were counted" in footnote
    assert "not drawn): zero_shot" in footnote


def test_learning_curve_plots_are_written_and_embedded(curve_results):
    assert main([str(curve_results), "--resamples", "200"]) == 0
    out = curve_results / "report" / "conll2003"
    assert (out / "learning_curves.png").read_bytes().startswith(b"\x89PNG")
    svg = (out / "learning_curves.svg").read_text()
    assert "<svg" in svg
    page = (curve_results / "report" / "report.html").read_text()
    assert page.count('class="wide" src="data:image/svg+xml;base64,') == 1  # beside the three Pareto plots
    # Reproducible, like the Pareto plots.
    main([str(curve_results), "--out", str(curve_results / "again"), "--resamples", "200"])
    assert (curve_results / "again" / "conll2003" / "learning_curves.svg").read_text() == svg


def test_no_curves_without_dev_histories(results_dir):
    assert main([str(results_dir), "--resamples", "200"]) == 0
    assert not (results_dir / "report" / "conll2003" / "learning_curves.svg").exists()
