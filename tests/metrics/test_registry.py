"""The metric registry, and what the evaluate base class does with files, locks and the network."""

from __future__ import annotations

import os

import pytest

from harness.metrics import (
    METRICS,
    ExactMatch,
    MultiLabel,
    MultipleChoice,
    SingleLabel,
    SpanF1,
    TokenAccuracy,
    metric_for,
)

GOLD = [["B-PER", "I-PER", "O"]]

# One small valid input per registered metric: (compute kwargs, expected value of one key).
# Every registered key must have one, so a new metric cannot skip the checks below.
EXAMPLES = {
    "exact_match": ({"predictions": ["Paris"], "references": [["paris"]]}, ("exact_match", 1.0)),
    "multi_label": ({"predictions": [[1, 0]], "references": [[1, 0]]}, ("micro_f1", 1.0)),
    "multiple_choice": (
        {"predictions": [[-1.0, -2.0]], "references": [[1, 0]], "choice_lengths": [[1, 1]]},
        ("acc", 1.0),
    ),
    "single_label": ({"predictions": [1, 0], "references": [1, 0]}, ("accuracy", 1.0)),
    "span_f1": ({"predictions": GOLD, "references": GOLD}, ("span_f1", 1.0)),
    "token_accuracy": ({"predictions": GOLD, "references": GOLD}, ("token_accuracy", 1.0)),
}


def test_registry_names_the_metric_classes():
    assert METRICS == {
        "exact_match": ExactMatch,
        "multi_label": MultiLabel,
        "multiple_choice": MultipleChoice,
        "single_label": SingleLabel,
        "span_f1": SpanF1,
        "token_accuracy": TokenAccuracy,
    }
    assert sorted(EXAMPLES) == sorted(METRICS)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_key_instantiates_through_metric_for_and_scores_its_example(name):
    metric = metric_for(name)
    assert type(metric) is METRICS[name]
    assert metric.keep_in_memory  # no cache files, no locks (see the last test)
    inputs, (key, expected) = EXAMPLES[name]
    assert metric.compute(**inputs)[key] == expected


def test_unknown_metric_lists_the_allowed_names():
    allowed = "exact_match, multi_label, multiple_choice, single_label, span_f1, token_accuracy"
    with pytest.raises(ValueError, match=rf"unknown metric 'seqeval'; allowed: {allowed}"):
        metric_for("seqeval")


def test_works_offline_and_writes_nothing_into_the_working_directory(tmp_path, monkeypatch):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set by tests/conftest.py
    monkeypatch.chdir(tmp_path)
    for name in METRICS:
        inputs, _ = EXAMPLES[name]
        metric_for(name).compute(**inputs)
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
