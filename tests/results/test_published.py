"""Published figures: printed under the board of their task and metric, never ranked among its rows,
and every one names a task, metric and method this harness has."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from harness.results.published import PUBLISHED, published_for
from harness.results.report import main

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("figure", PUBLISHED, ids=lambda f: f"{f.task}-{f.harness_method}")
def test_each_figure_names_a_real_task_metric_and_method(figure):
    task = yaml.safe_load((CONF / "task" / f"{figure.task}.yaml").read_text())
    assert task["name"] == figure.task
    assert task.get("metric", "span_f1") == figure.metric  # sequence labeling tasks score span_f1
    assert (CONF / "method" / f"{figure.harness_method}.yaml").is_file()
    assert 0 < figure.score < 1  # the 0-1 scale, not the papers' percentages


def test_figures_are_picked_by_task_and_metric_best_first():
    ner = published_for("conll2003_ner", "span_f1")
    assert [f.score for f in ner] == [0.9369, 0.924, 0.7788]
    assert published_for("conll2003_ner", "span_f1_strict") == []  # another definition: not printed beside it
    assert published_for("conll2003_pos", "span_f1") == []


def test_report_prints_them_beside_the_board_and_keeps_them_out_of_its_rows(tmp_path, make_record, write_record):
    for seed, score in ((1, 0.61), (2, 0.63)):
        write_record(tmp_path, make_record("ls_llama", seed, score, score - 0.01, task="conll2003_ner"))
        write_record(tmp_path, make_record("lora", seed, score, score - 0.01, task="conll2003"))
    assert main([str(tmp_path), "--resamples", "200", "--no-plots"]) == 0
    report = tmp_path / "report"
    ner = (report / "conll2003_ner" / "leaderboard.md").read_text()
    assert "| Mistral-7B, unmasked (LoRA) | ls_unllama | Mistral-7B | 0.9369 |" in ner
    assert "| BERT-base (fine-tuned) | full | bert-base-cased | 0.9240 |" in ner
    assert "never ranked" in ner
    assert "Mistral-7B" not in (report / "conll2003" / "leaderboard.md").read_text()
    rows = list(csv.DictReader((report / "conll2003_ner" / "leaderboard.csv").open()))
    assert [row["method"] for row in rows] == ["ls_llama"]  # measured rows only
    assert "0.9369" in (report / "report.html").read_text()


def test_no_published_figures_beside_a_board_of_strict_span_f1(tmp_path, make_record, write_record):
    """Records made before the conlleval definition (strict IOB2 under span_f1) get a board of their own;
    the papers' conlleval figures are not printed beside it."""
    write_record(tmp_path, make_record("ls_llama", 1, 0.6, 0.5, task="conll2003_ner", strict_only=True))
    assert main([str(tmp_path), "--resamples", "200", "--no-plots"]) == 0
    (board,) = (tmp_path / "report").glob("conll2003_ner*/leaderboard.md")
    assert "strict IOB2" in board.read_text() and "Mistral-7B" not in board.read_text()
