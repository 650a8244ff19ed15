"""Records scored before span_f1 followed conlleval hold the strict IOB2 score under that name: the
collection rescores them from their predictions (in memory only), or keeps and labels them."""

from __future__ import annotations

import pytest

from harness.results.collect import (
    CONLLEVAL,
    RECOMPUTED,
    STRICT_RECORDED,
    collect,
    span_definition,
)
from harness.results.record import write_predictions

# Predictions whose stray I- tags the two definitions read differently, each score worked by hand.
ROWS = [
    # test: conlleval reads I-PER I-PER as PER 0..2 (the gold span) and finds LOC: 2 of 2 predicted
    # correct, 2 of 2 gold found, F1 = 1. Strict drops the I-PER tags: LOC alone, P = 1/1, R = 1/2,
    # F1 = 2 * 1 * 0.5 / 1.5 = 2/3.
    {"split": "test", "id": "0", "gold": ["B-PER", "I-PER", "O"], "prediction": ["I-PER", "I-PER", "O"]},
    {"split": "test", "id": "1", "gold": ["B-LOC", "O"], "prediction": ["B-LOC", "O"]},
    # dev: I-MISC after O starts MISC 1..3 for conlleval (the gold span, F1 = 1); strict predicts
    # nothing (F1 = 0).
    {"split": "dev", "id": "0", "gold": ["O", "B-MISC", "I-MISC"], "prediction": ["O", "I-MISC", "I-MISC"]},
]
STRICT_TEST, STRICT_DEV = 2 / 3, 0.0
CONLLEVAL_TEST, CONLLEVAL_DEV = 1.0, 1.0


@pytest.fixture
def make_record(make_record):
    """Records as they were written before the conlleval definition: span_f1 only, strict."""
    return lambda *args, **kwargs: make_record(*args, **{"strict_only": True, **kwargs})


def _only(collection, method):
    (result,) = [r for r in collection.completed if r.method == method]
    return result


def test_an_old_record_with_predictions_is_rescored_in_memory(tmp_path, make_record, write_record):
    record_path = write_record(tmp_path, make_record("lora", 1, STRICT_TEST, STRICT_DEV))
    write_predictions(ROWS, record_path.parent)
    on_disk = record_path.read_bytes()
    collection = collect(tmp_path)
    result = _only(collection, "lora")
    assert span_definition(result) == RECOMPUTED
    assert result.metrics["test"]["span_f1"] == pytest.approx(CONLLEVAL_TEST)
    assert result.metrics["test"]["span_f1_strict"] == pytest.approx(STRICT_TEST)
    assert result.metrics["dev"]["span_f1"] == pytest.approx(CONLLEVAL_DEV)
    assert result.metrics["dev"]["span_f1_strict"] == pytest.approx(STRICT_DEV)
    # counts follow conlleval (2 gold, 2 predicted, 2 correct on test); other scores are kept.
    assert (result.metrics["test"]["num_gold_spans"], result.metrics["test"]["num_predicted_spans"]) == (2, 2)
    assert result.metrics["test"]["num_correct_spans"] == 2 and result.metrics["test"]["loss"] == 0.1
    assert record_path.read_bytes() == on_disk  # a record is a fact: never rewritten
    assert collection.notes == ["conll2003: span_f1 records by definition: 1 conlleval (recomputed from predictions.jsonl)"]


def test_an_old_record_without_predictions_keeps_its_strict_score(tmp_path, make_record, write_record):
    write_record(tmp_path, make_record("lora", 1, 0.80, 0.70))
    collection = collect(tmp_path)
    result = _only(collection, "lora")
    assert span_definition(result) == STRICT_RECORDED
    assert result.metrics["test"]["span_f1"] == 0.80 and "span_f1_strict" not in result.metrics["test"]
    assert collection.notes == [
        "conll2003: span_f1 records by definition: 1 strict IOB2 (recorded before the conlleval definition)"
    ]


def test_a_new_record_is_conlleval_and_needs_no_note(tmp_path, make_record, write_record):
    record = make_record("lora", 1, 0.90, 0.85)
    for split in ("dev", "test"):
        record.metrics[split]["span_f1_strict"] = 0.5  # written by the current metric: span_f1 is conlleval
    write_record(tmp_path, record)
    collection = collect(tmp_path)
    result = _only(collection, "lora")
    assert span_definition(result) == CONLLEVAL and result.metrics["test"]["span_f1"] == 0.90
    assert collection.notes == []


def test_mixed_definitions_on_one_task_are_counted_in_one_note(tmp_path, make_record, write_record):
    new = make_record("ia3", 1, 0.90, 0.85)
    new.metrics["test"]["span_f1_strict"] = new.metrics["dev"]["span_f1_strict"] = 0.5
    write_record(tmp_path, new)
    write_record(tmp_path, make_record("lora", 1, 0.80, 0.70))  # old, no predictions
    rescored = write_record(tmp_path, make_record("lora", 2, STRICT_TEST, STRICT_DEV))
    write_predictions(ROWS, rescored.parent)
    notes = collect(tmp_path).notes
    assert notes == [
        "conll2003: span_f1 records by definition: 1 conlleval, 1 conlleval (recomputed from predictions.jsonl), "
        "1 strict IOB2 (recorded before the conlleval definition)"
    ]


def test_predictions_that_do_not_reproduce_the_record_are_not_used(tmp_path, make_record, write_record):
    # The record says strict test F1 0.5, the rows give 2/3: they are not what it was scored on.
    record_path = write_record(tmp_path, make_record("lora", 1, 0.5, STRICT_DEV))
    write_predictions(ROWS, record_path.parent)
    collection = collect(tmp_path)
    result = _only(collection, "lora")
    assert span_definition(result) == STRICT_RECORDED and result.metrics["test"]["span_f1"] == 0.5
    assert any("span_f1 stays strict IOB2" in note and "0.666667" in note for note in collection.notes)


def test_predictions_missing_a_scored_split_are_not_used(tmp_path, make_record, write_record):
    record_path = write_record(tmp_path, make_record("lora", 1, STRICT_TEST, STRICT_DEV))
    write_predictions([row for row in ROWS if row["split"] == "test"], record_path.parent)
    collection = collect(tmp_path)
    assert span_definition(_only(collection, "lora")) == STRICT_RECORDED
    assert any("no dev rows" in note for note in collection.notes)


def test_a_search_trial_is_rescored_on_dev_only(tmp_path, make_record, write_record):
    # a search trial: dev only (evaluate_test false), and so are its predictions.
    record = make_record("lora", 1, None, STRICT_DEV)
    record.config["evaluate_test"] = False
    record_path = write_record(tmp_path, record)
    write_predictions([row for row in ROWS if row["split"] == "dev"], record_path.parent)
    result = _only(collect(tmp_path), "lora")
    assert span_definition(result) == RECOMPUTED
    assert result.metrics["dev"]["span_f1"] == pytest.approx(CONLLEVAL_DEV) and "test" not in result.metrics


def test_other_metrics_have_no_span_definition(make_record):
    record = make_record("lora", 1, 0.8, 0.7)
    record.primary_metric = "accuracy"
    assert span_definition(record) is None


def test_strict_records_get_a_leaderboard_of_their_own(tmp_path, make_record, write_record):
    from harness.results.aggregate import build_leaderboards

    strict = make_record("lora", 1, 0.80, 0.70)  # no span_f1_strict, no predictions: strict IOB2
    conlleval = make_record("lora", 2, 0.78, 0.69)
    for split in ("dev", "test"):
        conlleval.metrics[split]["span_f1_strict"] = conlleval.metrics[split]["span_f1"] + 0.01
    for record in (strict, conlleval):
        write_record(tmp_path, record)
    boards, _ = build_leaderboards(collect(tmp_path).completed)
    assert len(boards) == 2
    (old,) = [b for b in boards if "strict" in b.title]
    assert [run.seed for g in old.groups for run in g.runs] == [1]
