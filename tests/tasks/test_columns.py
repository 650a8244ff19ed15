"""The column-file reader on its own: a new data set by YAML alone, IOB1 and BIOES to IOB2."""

from __future__ import annotations

import pytest

from harness.config import ConfigError
from harness.tasks import ColumnTask, DataFormatError, LabeledSentence
from harness.tasks.columns import TagError, to_iob2

# A WNUT-like two-column file in BIOES, tab-separated, no document separators.
BIOES_TRAIN = "New\tB-LOC\nYork\tE-LOC\nis\tO\nbig\tO\n\nBob\tS-PER\nsmiles\tO\n"
BIOES_OTHER = "Ann\tS-PER\n"

BIOES_YAML = """
_target_: harness.tasks.columns.ColumnTask
name: wnut_like
data_subdir: wnut_like
files: {train: a.conll, dev: b.conll, test: c.conll}
columns: [token, entity]
word_column: token
tag_column: entity
tag_scheme: bioes
document_separator: null
max_train_examples: null
max_eval_examples: null
"""


def test_a_new_column_data_set_is_one_yaml(tmp_path, yaml_task, write_files):
    write_files(
        tmp_path / "wnut_like", {"a.conll": BIOES_TRAIN, "b.conll": BIOES_OTHER, "c.conll": BIOES_OTHER}
    )
    task = yaml_task(BIOES_YAML)
    assert isinstance(task, ColumnTask) and task.metric == "span_f1"
    data = task.load(tmp_path)
    assert data.train == [
        LabeledSentence(("New", "York", "is", "big"), ("B-LOC", "I-LOC", "O", "O"), "0"),
        LabeledSentence(("Bob", "smiles"), ("B-PER", "O"), "1"),
    ]
    assert data.dev == [LabeledSentence(("Ann",), ("B-PER",), "0")]
    assert data.labels == ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]  # IOB2 labels, not BIOES
    assert data.source == str(tmp_path / "wnut_like")


def test_plain_columns_are_kept_and_scored_by_token_accuracy(tmp_path, yaml_task, write_files):
    text = "The DT\ncat NN\n\n-DOCSTART- X\n\nsat VBD\n"
    write_files(tmp_path / "pos", {f"{s}.txt": text for s in ("train", "dev", "test")})
    task = yaml_task(
        "{_target_: harness.tasks.columns.ColumnTask, name: pos, data_subdir: pos, "
        "columns: [word, tag], tag_scheme: plain}"
    )
    data = task.load(tmp_path)
    assert task.metric == "token_accuracy"
    assert [s.tags for s in data.train] == [("DT", "NN"), ("VBD",)]
    assert data.labels == ["DT", "NN", "VBD"]


IOB1_CASES = [
    # IOB1 starts spans with I-; B- only where a span follows one of the same type.
    (["I-PER", "I-PER", "O"], ("B-PER", "I-PER", "O")),
    (["I-PER", "B-PER", "I-PER"], ("B-PER", "B-PER", "I-PER")),
    (["O", "I-LOC", "I-ORG", "I-ORG"], ("O", "B-LOC", "B-ORG", "I-ORG")),
    (["B-MISC", "I-MISC"], ("B-MISC", "I-MISC")),  # already IOB2-shaped: unchanged
    (["O", "O"], ("O", "O")),
]


@pytest.mark.parametrize("source, expected", IOB1_CASES)
def test_iob1_to_iob2(source, expected):
    assert to_iob2("ner", "iob1", source) == expected


BIOES_CASES = [
    (["S-PER"], ("B-PER",)),
    (["B-LOC", "E-LOC", "S-LOC"], ("B-LOC", "I-LOC", "B-LOC")),
    (["B-ORG", "I-ORG", "I-ORG", "E-ORG", "O"], ("B-ORG", "I-ORG", "I-ORG", "I-ORG", "O")),
    (["O", "S-PER", "B-PER", "E-PER"], ("O", "B-PER", "B-PER", "I-PER")),
]


@pytest.mark.parametrize("source, expected", BIOES_CASES)
def test_bioes_to_iob2(source, expected):
    assert to_iob2("ner", "bioes", source) == expected


BAD_BIOES = [
    (["B-PER", "O"], 1, "continues the span with I-PER or ends it with E-PER"),
    (["B-PER", "E-LOC"], 1, "continues the span with I-PER"),
    (["O", "E-PER"], 1, "BIOES starts a span with B-PER"),
    (["I-PER"], 0, "follows 'the sentence start'"),
    (["O", "B-PER"], 1, "still open at the sentence end"),
    (["B-PER", "S-PER"], 1, "continues the span"),
]


@pytest.mark.parametrize("source, index, message", BAD_BIOES)
def test_bioes_spans_must_open_and_close(source, index, message):
    with pytest.raises(TagError) as caught:
        to_iob2("ner", "bioes", source)
    assert caught.value.index == index and message in caught.value.message


def test_iob2_refuses_what_iob1_converts():
    with pytest.raises(TagError, match="ner tag 'I-PER' follows 'O': IOB2 starts every span"):
        to_iob2("ner", "iob2", ["O", "I-PER"])
    assert to_iob2("ner", "iob1", ["O", "I-PER"]) == ("O", "B-PER")


def test_types_restrict_the_tags():
    with pytest.raises(TagError, match=r"unknown ner tag 'B-DATE': expected O or B-/I- of LOC, PER"):
        to_iob2("ner", "iob2", ["B-DATE"], frozenset({"PER", "LOC"}))
    with pytest.raises(TagError, match=r"unknown ner tag 'U-PER': expected O or B-/I-/E-/S-"):
        to_iob2("ner", "bioes", ["U-PER"])


def test_iob1_file_is_converted_and_bad_bioes_file_names_its_line(tmp_path, yaml_task, write_files):
    iob1 = "Peter I-PER\nBlackburn I-PER\nsaw O\nEU I-ORG\n"
    write_files(tmp_path / "old", {f"{s}.txt": iob1 for s in ("train", "dev", "test")})
    task = yaml_task(
        "{_target_: harness.tasks.columns.ColumnTask, data_subdir: old, tag_scheme: iob1}"
    )
    assert task.load(tmp_path).train[0].tags == ("B-PER", "I-PER", "O", "B-ORG")
    write_files(tmp_path / "wnut_like", {"a.conll": BIOES_TRAIN, "b.conll": "x\tO\n\nA\tB-PER\nB\tO\n", "c.conll": BIOES_OTHER})
    with pytest.raises(DataFormatError) as caught:
        yaml_task(BIOES_YAML).load(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'wnut_like' / 'b.conll'}:4: entity tag 'O'")


SCHEMA_ERRORS = [
    ({"tag_scheme": "bilou"}, r"task\.tag_scheme must be one of"),
    ({"tag_column": "lemma"}, r"task\.tag_column: 'lemma' is not one of task\.columns"),
    ({"columns": ["word"]}, r"task\.columns must be 2 or more"),
    ({"columns": ["word", "word"]}, r"task\.columns must be 2 or more distinct"),
    ({"tag_scheme": "plain", "tag_types": ["PER"]}, r"task\.tag_types: only span schemes"),
    ({"check_columns": {"lemma": "plain"}}, r"task\.check_columns: 'lemma' is not a tag column"),
    ({"check_columns": {"tag": "iob1"}}, r"task\.check_columns\.tag: 'iob1' disagrees"),
    ({"files": {"train": "a", "dev": "b"}}, r"task\.files must map each of train, dev, test"),
    ({"hub_splits": {"train": "train"}}, r"task\.hub_splits must map"),
    ({"max_train_examples": 0}, r"task\.max_train_examples must be a positive integer"),
    ({"name": ""}, r"task\.name must be a non-empty string"),
]


@pytest.mark.parametrize("overrides, message", SCHEMA_ERRORS, ids=[m for _, m in SCHEMA_ERRORS])
def test_impossible_values_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        ColumnTask(**overrides)


def test_unknown_yaml_key_fails_naming_it(yaml_task):
    with pytest.raises(ConfigError, match=r"task\.max_train_sentences: unknown key"):
        yaml_task("{_target_: harness.tasks.columns.ColumnTask, max_train_sentences: 10}")


def test_local_only_task_without_data_root_says_how_to_fix_it():
    with pytest.raises(ValueError, match=r"task 'columns' reads local files only.*HARNESS_DATA_DIR"):
        ColumnTask().load(None)
