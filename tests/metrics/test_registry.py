"""The metric registry, and what the evaluate base class does with files, locks and the network."""

from __future__ import annotations

import os

import pytest

from harness.metrics import METRICS, SpanF1, TokenAccuracy, metric_for

GOLD = [["B-PER", "I-PER", "O"]]


def test_registry_names_the_metric_classes():
    assert METRICS == {"span_f1": SpanF1, "token_accuracy": TokenAccuracy}
    assert isinstance(metric_for("span_f1"), SpanF1)
    assert isinstance(metric_for("token_accuracy"), TokenAccuracy)


def test_unknown_metric_lists_the_allowed_names():
    with pytest.raises(ValueError, match=r"unknown metric 'seqeval'; allowed: span_f1, token_accuracy"):
        metric_for("seqeval")


def test_works_offline_and_writes_nothing_into_the_working_directory(tmp_path, monkeypatch):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set by tests/conftest.py
    monkeypatch.chdir(tmp_path)
    for name in METRICS:
        metric = metric_for(name)
        metric.compute(predictions=GOLD, references=GOLD)
    assert list(tmp_path.iterdir()) == []


def test_many_instances_and_calls_in_one_process_do_not_collide():
    # keep_in_memory is the default: no Arrow cache file and no lock per (name, experiment id).
    # (With it off, a second live instance finds the lock taken, falls back to a file with a random
    # name, and every such instance leaves a .lock file behind in the evaluate cache.)
    first, second = SpanF1(), SpanF1()
    assert first.keep_in_memory and second.keep_in_memory
    for _ in range(25):
        first.add_batch(predictions=GOLD, references=GOLD)
        second.add_batch(predictions=[["O", "O", "O"]], references=GOLD)
        assert first.compute()["span_f1"] == 1.0  # 1 of 1 gold found, nothing else predicted
        assert second.compute()["span_f1"] == 0.0  # nothing predicted
