"""Records from JSON lines, a JSON list and CSV: where each starts, and errors at file:line."""

from __future__ import annotations

import pytest

from harness.tasks import DataFormatError
from harness.tasks.base import read_text_lines
from harness.tasks.records import check_template, parse_records


def records_of(tmp_path, text: str, record_format: str):
    path = tmp_path / f"data.{record_format}"
    path.write_text(text, encoding="utf-8")
    return path, parse_records(path, read_text_lines(path)[0], record_format)


def test_json_lines_skip_blank_lines_and_keep_line_numbers(tmp_path):
    _, records = records_of(tmp_path, '{"a": 1}\n\n{"a": 2}\n', "jsonl")
    assert [(r.fields, r.position, r.line) for r in records] == [({"a": 1}, 0, 1), ({"a": 2}, 1, 3)]


def test_json_list_records_know_their_start_line(tmp_path):
    text = '[\n  {"a": 1},\n  {"a": [1,\n 2]}, {"a": 3}\n]\n'
    _, records = records_of(tmp_path, text, "json")
    assert [(r.fields["a"], r.position, r.line) for r in records] == [(1, 0, 2), ([1, 2], 1, 3), (3, 2, 4)]
    _, empty = records_of(tmp_path, "[ ]", "json")
    assert empty == []


def test_csv_records_with_quoted_newlines_start_where_they_start(tmp_path):
    text = 'q,a\n"two\nlines","x, y"\nthree,z\n\nfour,w\n'
    _, records = records_of(tmp_path, text, "csv")
    assert [(r.fields, r.line) for r in records] == [
        ({"q": "two\nlines", "a": "x, y"}, 2),
        ({"q": "three", "a": "z"}, 4),
        ({"q": "four", "a": "w"}, 6),
    ]


MALFORMED = [
    ("jsonl", '{"a": 1}\n{"a": \n', 2, "not valid JSON"),
    ("jsonl", '{"a": 1}\n[1, 2]\n', 2, "expected a JSON object, got list"),
    ("json", '{"a": 1}', 1, "expected a JSON list of records"),
    ("json", '[{"a": 1},\n {"a": 2}\n {"a": 3}]', 3, "expected ',' or ']' after record 1"),
    ("json", '[{"a": 1},\n\n 7]', 3, "record 1 is a int, expected a JSON object"),
    ("json", '[{"a": 1},\n {"a": tru}]', 2, "not valid JSON in record 1"),
    ("json", '[{"a": 1}] extra', 1, "unexpected text after the JSON list"),
    ("csv", "q,a\nx,y\nonly\n", 3, "expected 2 fields (as the header), got 1"),
    ("csv", "q,q\nx,y\n", 1, "the CSV header has duplicate names ['q']"),
    ("csv", 'q,a\nx,"y"z\n', 2, "not valid CSV"),
]


@pytest.mark.parametrize("record_format, text, line, message", MALFORMED)
def test_malformed_containers_name_file_and_line(tmp_path, record_format, text, line, message):
    with pytest.raises(DataFormatError) as caught:
        records_of(tmp_path, text, record_format)
    assert str(caught.value).startswith(f"{tmp_path / f'data.{record_format}'}:{line}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "template, message",
    [("{}", "positional field"), ("{0}", "positional field"), ("{story", "invalid template"), (3, "template string")],
)
def test_templates_name_only_fields(template, message):
    with pytest.raises(ValueError, match=rf"task\.prompt.*{message}"):
        check_template("task.prompt", template)
    check_template("task.prompt", "{story} {{literal}} {query[0]} {a[b][0]}")
