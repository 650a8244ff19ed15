"""Text classification records: 0/1 label fields, label lists, CSV, the hate speech set."""

from __future__ import annotations

import json

import pytest

from harness.tasks import DataFormatError, LabeledText, TextClassificationTask


def jsonl(*records) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


MULTI_YAML = """
_target_: harness.tasks.text_classification.TextClassificationTask
name: comments
data_subdir: comments
format: jsonl
text_fields: [title, body]
text_separator: " | "
label_field: null
label_fields: [insult, threat, none]
multi_label: true
id_field: uid
"""

COMMENTS = [
    {"uid": 7, "title": "T", "body": "you fool", "insult": 1, "threat": 0, "none": 0},
    {"uid": 9, "title": "T", "body": "or else", "insult": 1, "threat": 1, "none": 0},
    {"uid": 11, "title": "U", "body": "hello", "insult": 0, "threat": 0, "none": 1},
]


def test_a_multi_label_data_set_of_01_fields_is_one_yaml(tmp_path, yaml_task, write_files):
    write_files(tmp_path / "comments", {f"{s}.jsonl": jsonl(*COMMENTS) for s in ("train", "dev", "test")})
    task = yaml_task(MULTI_YAML)
    assert (task.kind, task.metric) == ("text_classification", "macro_f1")
    data = task.load(tmp_path)
    assert data.train == [
        LabeledText("T | you fool", ("insult",), "7"),
        LabeledText("T | or else", ("insult", "threat"), "9"),
        LabeledText("U | hello", ("none",), "11"),
    ]
    assert data.labels == ["insult", "threat", "none"]  # the order given, not sorted


def test_auto_label_fields_are_the_01_fields_in_file_order(tmp_path, yaml_task, write_files):
    records = [dict(r, flagged="0" if i else "1", score=3) for i, r in enumerate(COMMENTS)]
    write_files(tmp_path / "comments", {f"{s}.jsonl": jsonl(*records) for s in ("train", "dev", "test")})
    task = yaml_task(MULTI_YAML.replace("[insult, threat, none]", "auto"))
    # "flagged" is 0/1 too: auto cannot tell a flag from a label (hence explicit lists in conf/).
    assert task.load(tmp_path).labels == ["insult", "threat", "none", "flagged"]


def test_single_label_csv_with_a_label_field(tmp_path, yaml_task, write_files):
    csv = 'id,text,label\na1,"good, really",pos\na2,bad,neg\na3,meh,neu\n'
    write_files(tmp_path / "sst", {"tr.csv": csv, "va.csv": csv, "te.csv": csv})
    task = yaml_task(
        "{_target_: harness.tasks.text_classification.TextClassificationTask, name: sst, "
        "data_subdir: sst, format: csv, files: {train: tr.csv, dev: va.csv, test: te.csv}, "
        "id_field: id, metric: accuracy}"
    )
    data = task.load(tmp_path)
    assert data.train[0] == LabeledText("good, really", ("pos",), "a1")
    assert data.labels == ["neg", "neu", "pos"]  # label strings: sorted
    assert task.metric == "accuracy"


def test_label_lists_and_separated_labels(tmp_path, yaml_task, write_files):
    records = [{"text": "a", "tags": ["y", "x"]}, {"text": "b", "tags": []}]
    write_files(tmp_path / "t", {f"{s}.jsonl": jsonl(*records) for s in ("train", "dev", "test")})
    task = yaml_task(
        "{_target_: harness.tasks.text_classification.TextClassificationTask, data_subdir: t, "
        "label_field: tags, multi_label: true}"
    )
    data = task.load(tmp_path)
    assert [t.labels for t in data.train] == [("x", "y"), ()]
    assert [t.id for t in data.train] == ["0", "1"]  # no id field: positions
    csv = "text,tags\na,x;y\nb,\n"
    write_files(tmp_path / "c", {f"{s}.csv": csv for s in ("train", "dev", "test")})
    task = yaml_task(
        "{_target_: harness.tasks.text_classification.TextClassificationTask, data_subdir: c, "
        "format: csv, label_field: tags, label_separator: ';', multi_label: true}"
    )
    assert [t.labels for t in task.load(tmp_path).train] == [("x", "y"), ()]


MALFORMED = [
    ({"uid": 1, "title": "T", "insult": 1, "threat": 0, "none": 0}, "record 1 has no field 'body'"),
    ({"uid": 1, "title": "T", "body": "b", "insult": 2, "threat": 0, "none": 0}, "'insult' = 2, expected 0 or 1"),
    ({"uid": 7, "title": "T", "body": "b", "insult": 1, "threat": 0, "none": 0}, "repeats the id '7'"),
    ({"uid": 1, "title": "T", "body": 5, "insult": 1, "threat": 0, "none": 0}, "field 'body' must be a string"),
    ({"uid": 1, "title": "", "body": " ", "insult": 1, "threat": 0, "none": 0}, "has an empty text"),
]


@pytest.mark.parametrize("record, message", MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_records_name_file_and_line(tmp_path, yaml_task, write_files, record, message):
    broken = jsonl(COMMENTS[0]) + "\n" + jsonl(record)
    files = {"train.jsonl": jsonl(*COMMENTS), "dev.jsonl": broken, "test.jsonl": jsonl(*COMMENTS)}
    write_files(tmp_path / "comments", files)
    with pytest.raises(DataFormatError) as caught:
        yaml_task(MULTI_YAML).load(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'comments' / 'dev.jsonl'}:3: ")
    assert message in str(caught.value)


def test_single_label_task_refuses_none_or_several(tmp_path, yaml_task, write_files):
    write_files(tmp_path / "comments", {f"{s}.jsonl": jsonl(*COMMENTS) for s in ("train", "dev", "test")})
    with pytest.raises(DataFormatError, match=r"train\.jsonl:2: record 1 has 2 labels.*single-label"):
        yaml_task(MULTI_YAML.replace("multi_label: true", "multi_label: false")).load(tmp_path)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"label_fields": ["a"]}, r"task\.label_field and task\.label_fields: set exactly one"),
        ({"label_field": None}, r"set exactly one"),
        ({"label_field": None, "label_fields": "some"}, r"task\.label_fields must be a list"),
        ({"text_fields": []}, r"task\.text_fields must be a list of distinct field names"),
        ({"format": "xml"}, r"task\.format must be one of"),
        ({"label_separator": ";"}, r"task\.label_separator needs"),
        ({"label_field": "text"}, r"cannot be both a text/id and a label field"),
        ({"files": {"train": "a"}}, r"task\.files must map each of train, dev, test"),
    ],
)
def test_impossible_values_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        TextClassificationTask(**overrides)


@pytest.fixture(scope="module")
def hatespeech(conf_task, data_root):
    return conf_task("hatespeech").load(data_root)


def test_hatespeech_counts_and_22_labels(hatespeech, conf_task, data_root):
    assert (len(hatespeech.train), len(hatespeech.dev), len(hatespeech.test)) == (2338, 313, 556)
    assert len(hatespeech.labels) == 22
    assert hatespeech.labels[:3] == ["Towards law enforcement", "Accusations", "Promoting violence"]
    assert hatespeech.labels[-1] == "Neutral"
    auto = conf_task("hatespeech", label_fields="auto").load(data_root)
    assert auto.labels == hatespeech.labels and auto.train == hatespeech.train
    assert auto.data_hash == hatespeech.data_hash


def test_hatespeech_examples_are_messages_with_their_labels(hatespeech):
    first = hatespeech.train[0]
    assert first == LabeledText(
        "These fucking cops are out of control!", ("Towards law enforcement",), "96952"
    )  # the message alone: the title is the video's
    assert all(1 <= len(t.labels) <= 4 for t in hatespeech.train + hatespeech.dev + hatespeech.test)
    assert len({t.id for t in hatespeech.train}) == 2338
