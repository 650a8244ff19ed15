"""Shared task rules: error locations, deterministic subsets, label order, schema checks."""

from __future__ import annotations

import pickle
import random

import pytest

from harness.tasks import Conll2003Task, DataFormatError, LabeledSentence, Rest14AbsaTask, subsample
from harness.tasks.base import ordered_labels, read_text_lines


def test_data_format_error_reads_as_path_colon_line():
    error = DataFormatError("data/train.txt", 7, "unknown tag 'X'")
    assert str(error) == "data/train.txt:7: unknown tag 'X'"
    assert (error.path, error.line_number) == ("data/train.txt", 7)
    assert error.message == "unknown tag 'X'"
    assert isinstance(error, ValueError)
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def test_undecodable_byte_names_its_line(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"fine\nalso fine\nbad \xff byte\nafter\n")
    with pytest.raises(DataFormatError) as caught:
        read_text_lines(path)
    assert str(caught.value).startswith(f"{path}:3: not valid UTF-8")


def test_bom_and_windows_line_ends_are_tolerated(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xef\xbb\xbfa b\r\nc\r\n")
    lines, data = read_text_lines(path)
    assert lines == ["a b", "c", ""]
    assert data.startswith(b"\xef\xbb\xbf")  # the hash covers the bytes as stored


def _sentences(n: int) -> list[LabeledSentence]:
    return [LabeledSentence((f"w{i}",), ("O",)) for i in range(n)]


def test_subsample_is_deterministic_sized_ordered_and_nested():
    sentences = _sentences(5000)
    random.seed(123)  # the run seed must not matter
    first = subsample(sentences, 300)
    random.seed(456)
    assert subsample(sentences, 300) == first
    assert len(first) == 300
    indices = [int(s.words[0][1:]) for s in first]
    assert indices == sorted(indices)  # file order kept
    assert max(indices) > 4000  # spread over the file, not the first 300
    assert set(first) <= set(subsample(sentences, 600))
    assert subsample(sentences, 300, seed=1) != first


def test_subsample_none_or_oversized_keeps_everything():
    sentences = _sentences(10)
    assert subsample(sentences, None) == sentences
    assert subsample(sentences, 50) == sentences


def test_ordered_labels_puts_o_first_then_sorted():
    assert ordered_labels(["I-PER", "O", "B-PER", "B-LOC", "O"]) == ["O", "B-LOC", "B-PER", "I-PER"]
    assert ordered_labels(["NN", "DT"]) == ["DT", "NN"]  # no "O" invented for POS


def test_labeled_sentence_needs_one_tag_per_word():
    with pytest.raises(ValueError):
        LabeledSentence(("a", "b"), ("O",))


@pytest.mark.parametrize("task_class", [Conll2003Task, Rest14AbsaTask])
@pytest.mark.parametrize("key", ["max_train_sentences", "max_eval_sentences"])
@pytest.mark.parametrize("value", [0, -5, 2.5, True])
def test_subset_sizes_must_be_positive_integers(task_class, key, value):
    with pytest.raises(ValueError, match=f"task.{key}"):
        task_class(**{key: value})


def test_conll_column_is_validated_naming_key_and_choices():
    with pytest.raises(ValueError, match=r"task\.column.*'pos', 'chunk', 'ner'.*'srl'"):
        Conll2003Task(column="srl")


def test_task_schemas_instantiate_from_defaults_with_kind_and_metric():
    assert Conll2003Task().kind == Rest14AbsaTask().kind == "sequence_labeling"
    assert Conll2003Task().metric == Conll2003Task(column="chunk").metric == "span_f1"
    assert Conll2003Task(column="pos").metric == "token_accuracy"
    assert Rest14AbsaTask().metric == "span_f1"
    assert Rest14AbsaTask().name == "rest14_absa" and Conll2003Task().name == "conll2003_ner"
