"""Shared task rules: error locations, deterministic subsets, label order, schema checks, and
every task YAML in conf/task/."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import pytest

from harness.tasks import (
    AbsaTask,
    ChoiceTask,
    ColumnTask,
    DataFormatError,
    LabeledSentence,
    PromptTargetTask,
    TextClassificationTask,
    subsample,
)
from harness.tasks.base import ordered_labels, read_text_lines

TASK_CLASSES = [ColumnTask, AbsaTask, TextClassificationTask, ChoiceTask, PromptTargetTask]
TASK_CONF = Path(__file__).resolve().parents[2] / "conf" / "task"


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


def test_subsample_draws_exactly_what_existing_results_drew():
    # Pinned: a changed algorithm would silently give old and new runs different data.
    assert subsample(list(range(1000)), 10) == [46, 87, 282, 306, 366, 392, 404, 864, 923, 942]
    assert subsample(list(range(50)), 5, seed=3) == [5, 13, 15, 22, 41]


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


@pytest.mark.parametrize("task_class", TASK_CLASSES)
@pytest.mark.parametrize("key", ["max_train_examples", "max_eval_examples"])
@pytest.mark.parametrize("value", [0, -5, 2.5, True])
def test_subset_sizes_must_be_positive_integers(task_class, key, value):
    with pytest.raises(ValueError, match=f"task.{key}"):
        task_class(**{key: value})


@pytest.mark.parametrize("task_class", TASK_CLASSES)
def test_every_field_has_a_default_and_a_docstring(task_class):
    import ast
    import dataclasses
    import inspect
    import textwrap

    task = task_class()  # every default together is a valid task
    assert task.kind and task.metric and task.name
    tree = ast.parse(textwrap.dedent(inspect.getsource(task_class)))
    body = tree.body[0].body
    documented = {
        node.target.id
        for node, after in zip(body, body[1:])
        if isinstance(node, ast.AnnAssign)
        and isinstance(after, ast.Expr)
        and isinstance(after.value, ast.Constant)
        and isinstance(after.value.value, str)
    }
    fields = {f.name for f in dataclasses.fields(task_class)}
    assert fields == documented, fields ^ documented
    assert all(
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in dataclasses.fields(task_class)
    )


TASK_YAMLS = sorted(path.stem for path in TASK_CONF.glob("*.yaml"))
EXPECTED = {
    "conll2003_ner": ("sequence_labeling", "span_f1"),
    "conll2003_chunk": ("sequence_labeling", "span_f1"),
    "conll2003_pos": ("sequence_labeling", "token_accuracy"),
    "rest14_absa": ("sequence_labeling", "span_f1"),
    "hatespeech": ("text_classification", "macro_f1"),
    "truthfulqa_mc": ("multiple_choice", "mc1"),
    "clutrr": ("generation", "exact_match"),
    "mquake": ("generation", "exact_match"),
}


def test_the_task_yamls_are_the_expected_ones():
    assert set(TASK_YAMLS) == set(EXPECTED)


@pytest.mark.parametrize("name", TASK_YAMLS)
def test_every_task_yaml_instantiates_with_its_kind_and_metric(name, conf_task):
    task = conf_task(name)
    assert task.name == name
    assert (task.kind, task.metric) == EXPECTED[name]
    text = (TASK_CONF / f"{name}.yaml").read_text()
    assert "_sentences" not in text  # the budget keys count examples of any kind
    budget = conf_task(name, max_train_examples=7, max_eval_examples=3)
    assert (budget.max_train_examples, budget.max_eval_examples) == (7, 3)


@pytest.mark.parametrize("name", TASK_YAMLS)
def test_every_task_yaml_loads_the_shared_data(name, conf_task, data_root):
    data = conf_task(name, max_train_examples=5, max_eval_examples=4).load(data_root)
    assert (len(data.train), len(data.dev), len(data.test)) == (5, 4, 4)
    assert all(example.id for example in data.train + data.dev + data.test)
    assert len(data.data_hash) == 64 and data.source.startswith(str(data_root))


def test_subsets_are_drawn_alike_for_every_kind(conf_task, data_root):
    """The same rule for every kind of example: subsets of the full split, ids kept."""
    full = conf_task("hatespeech").load(data_root)
    subset = conf_task("hatespeech", max_train_examples=100).load(data_root)
    assert subset.train == subsample(full.train, 100)
    assert subset.dev == full.dev and subset.labels == full.labels
