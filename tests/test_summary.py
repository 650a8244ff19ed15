"""The end-of-run summary prints scores on the record's 0-1 scale, and a run whose model predicts
nothing on dev says so in its summary and its record (issue: under-trained defaults visible)."""

from __future__ import annotations

import re

import pytest
from torch import nn

from harness.formulations.generation import Generation, Generator
from harness.formulations.sequence_classification import SequenceClassifier
from harness.formulations.token_classification import TokenClassifier
from harness.methods.lora import LoRA
from harness.metrics import metric_for
from harness.results.record import Cost, RunResult
from harness.results.summary import print_summary
from harness.run import run
from tests.composing import compose_config, quick_overrides


def _record(**kwargs) -> RunResult:
    return RunResult(**{
        "run_id": "r", "status": "completed", "sweep": "s", "task": "t", "model": "m", "method": "lora", "seed": 1,
        "config": {}, "primary_metric": "span_f1", "cost": Cost(),
        "metrics": {"dev": {"span_f1": 0.53621807}, "test": {"span_f1": 0.5013939}}, **kwargs,
    })  # fmt: skip


def test_summary_prints_the_records_scale(capsys, tmp_path):
    print_summary(_record(), tmp_path / "result.json")
    out = capsys.readouterr().out
    assert re.search(r"dev span_f1\s*│\s*0\.5362\b", out)
    assert re.search(r"test span_f1\s*│\s*0\.5014\b", out)
    assert "53.62" not in out


def test_summary_shows_warnings(capsys, tmp_path):
    print_summary(_record(warnings=["the model predicts no span on dev"]), tmp_path / "result.json")
    assert "the model predicts no span on dev" in capsys.readouterr().out


def test_each_formulation_recognises_a_model_that_predicts_nothing():
    tokens = TokenClassifier(nn.Identity(), 4, ["O", "B-X", "I-X"], metric_for("span_f1"), "span_f1", LoRA())
    assert "no span" in tokens.nothing_predicted({"span_f1": 0.0, "num_predicted_spans": 0})
    assert tokens.nothing_predicted({"span_f1": 0.0, "num_predicted_spans": 3}) is None
    labels = SequenceClassifier(nn.Identity(), 4, ["a", "b"], True, "last", metric_for("multi_label"), "macro_f1",
                                LoRA(), {})  # fmt: skip
    assert "no label" in labels.nothing_predicted({"macro_f1": 0.0, "predicted_cardinality": 0.0})
    assert labels.nothing_predicted({"macro_f1": 0.0, "predicted_cardinality": 0.5}) is None
    answers = Generator(nn.Identity(), None, Generation(), metric_for("exact_match"), "exact_match", LoRA(), {})
    assert "no answer" in answers.nothing_predicted({"num_examples": 4, "num_empty_predictions": 4})
    assert answers.nothing_predicted({"num_examples": 4, "num_empty_predictions": 3}) is None


def test_a_run_that_predicts_nothing_is_flagged_in_its_record(tmp_path, data_root, monkeypatch, capsys):
    monkeypatch.setattr(TokenClassifier, "nothing_predicted", lambda self, scores: "the model predicts no span")
    result = run(compose_config(quick_overrides(tmp_path, train=16, evaluate=8)))
    assert result.status == "completed", result.error
    assert result.warnings == ["the model predicts no span"]
    assert "the model predicts no span" in capsys.readouterr().out


def test_summary_shows_the_training_budget_in_force_and_the_attempts(capsys, tmp_path):
    stage = {"name": "train", "trained": True, "train_examples": 1000, "epochs": 5, "optimizer_steps": 315}
    print_summary(_record(stages=[stage], cost=Cost(total_params=10, trainable_params=1, attempts=2)), tmp_path / "r.json")
    out = capsys.readouterr().out
    assert "1,000 examples x 5 epochs = 315 steps" in out
    assert "2 attempts" in out


def test_summary_says_which_precision_ran(capsys, tmp_path):
    print_summary(_record(precision="bf16-mixed (auto: CPU with native bf16 (AVX512_BF16))"), tmp_path / "r.json")
    assert "bf16-mixed (auto: CPU with native bf16" in capsys.readouterr().out


def test_summary_prints_an_error_message_that_looks_like_markup(capsys, tmp_path):
    message = "[/work/gloo/transport.cc:123] Connection closed by peer [/127.0.0.1]:5000"
    record = _record(status="failed", error={"type": "RuntimeError", "message": message, "traceback": ""})
    print_summary(record, tmp_path / "result.json")
    squeezed = re.sub(r"[\s│]", "", capsys.readouterr().out)  # the cell wraps the message over lines
    assert "RuntimeError:[/work/gloo/transport.cc:123]Connectionclosedbypeer" in squeezed
