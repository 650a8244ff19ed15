"""Records (one dict of fields per example) from JSON lines, a JSON list or CSV, with locations.

The readers for text classification, multiple choice and prompt/target pairs all start from
records: this module parses the three container formats, remembers where each record starts so
every later complaint can name ``file:line`` (and the record's number, which is what a person
needs in a one-line JSON list), and fills ``str.format`` templates from a record's fields.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.tasks.base import (
    DataFormatError,
    check_files,
    check_max_examples,
    check_name,
    read_split_files,
)

RECORD_FORMATS = ("jsonl", "json", "csv")
"""``jsonl``: one JSON object a line; ``json``: one list of objects; ``csv``: a header row, then
one record a row (fields are strings; quoted fields may span lines)."""

_WHITESPACE = re.compile(r"[ \t\n\r]*")


@dataclass(frozen=True)
class Record:
    """One record's fields, its file, its 0-based position there and the line where it starts."""

    fields: dict[str, Any]
    path: Path
    position: int
    line: int

    def error(self, message: str) -> DataFormatError:
        """``path:line: record N <message>``."""
        return DataFormatError(self.path, self.line, f"record {self.position} {message}")


def parse_records(path: Path, lines: list[str], record_format: str) -> list[Record]:
    """The records of one file in ``record_format`` (see `RECORD_FORMATS`)."""
    if record_format == "jsonl":
        return _jsonl_records(path, lines)
    if record_format == "json":
        return _json_list_records(path, "\n".join(lines))
    if record_format == "csv":
        return _csv_records(path, "\n".join(lines))
    raise ValueError(f"record format must be one of {RECORD_FORMATS}, got {record_format!r}")


def _jsonl_records(path: Path, lines: list[str]) -> list[Record]:
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFormatError(path, number, f"not valid JSON: {error.msg} (column {error.colno})")
        if not isinstance(value, dict):
            raise DataFormatError(path, number, f"expected a JSON object, got {type(value).__name__}")
        records.append(Record(value, path, len(records), number))
    return records


def _json_list_records(path: Path, text: str) -> list[Record]:
    """A JSON list of objects, decoded one element at a time to learn where each one starts."""
    decoder = json.JSONDecoder()
    line, counted = 1, 0

    def line_at(offset: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, offset)
        counted = offset
        return line

    def fail(offset: int, message: str):
        return DataFormatError(path, line_at(offset), message)

    index = _WHITESPACE.match(text, 0).end()
    if not text.startswith("[", index):
        raise fail(index, "expected a JSON list of records ('[' ...)")
    index = _WHITESPACE.match(text, index + 1).end()
    records: list[Record] = []
    if text.startswith("]", index):
        index += 1
    else:
        while True:
            try:
                value, end = decoder.raw_decode(text, index)
            except json.JSONDecodeError as error:
                raise fail(error.pos, f"not valid JSON in record {len(records)}: {error.msg}")
            if not isinstance(value, dict):
                kind = type(value).__name__
                raise fail(index, f"record {len(records)} is a {kind}, expected a JSON object")
            records.append(Record(value, path, len(records), line_at(index)))
            index = _WHITESPACE.match(text, end).end()
            if text.startswith(",", index):
                index = _WHITESPACE.match(text, index + 1).end()
            elif text.startswith("]", index):
                index += 1
                break
            else:
                raise fail(index, f"expected ',' or ']' after record {len(records) - 1}")
    if _WHITESPACE.match(text, index).end() != len(text):
        raise fail(index, "unexpected text after the JSON list")
    return records


def _csv_records(path: Path, text: str) -> list[Record]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[Record] = []
    header: list[str] | None = None
    try:
        for row in reader:
            start = reader.line_num - sum(value.count("\n") for value in row)
            if not row:  # a blank line
                continue
            if header is None:
                header = row
                duplicates = sorted({name for name in row if row.count(name) > 1})
                if duplicates or not all(name.strip() for name in row):
                    problem = f"duplicate names {duplicates}" if duplicates else "an empty name"
                    raise DataFormatError(path, start, f"the CSV header has {problem}")
                continue
            if len(row) != len(header):
                raise DataFormatError(
                    path, start, f"expected {len(header)} fields (as the header), got {len(row)}"
                )
            records.append(Record(dict(zip(header, row)), path, len(records), start))
    except csv.Error as error:
        raise DataFormatError(path, reader.line_num, f"not valid CSV: {error}") from None
    return records


def read_split_records(
    folder: Path, files: Mapping[str, str], record_format: str
) -> tuple[dict[str, list[Record]], str]:
    """The records of each split's file, and the hash of the files' bytes."""
    return read_split_files(folder, files, lambda path, lines: parse_records(path, lines, record_format))


def field(record: Record, name: str) -> Any:
    """The value of field ``name``; a `DataFormatError` naming the record when it is absent."""
    try:
        return record.fields[name]
    except KeyError:
        known = ", ".join(map(repr, record.fields))
        raise record.error(f"has no field {name!r} (it has {known})") from None


def text_field(record: Record, name: str) -> str:
    """A field that must hold a string."""
    value = field(record, name)
    if not isinstance(value, str):
        raise record.error(f"field {name!r} must be a string, got {type(value).__name__}")
    return value


def example_id(record: Record, id_field: str | None, seen: set[str]) -> str:
    """The record's own id (``id_field``), else its position; ids are unique within a file."""
    if id_field is None:
        return str(record.position)
    value = field(record, id_field)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        raise record.error(f"has id field {id_field!r} = {value!r}, not a string or integer")
    identifier = str(value)
    if identifier in seen:
        raise record.error(f"repeats the id {identifier!r} of an earlier record")
    seen.add(identifier)
    return identifier


def parse_literals(record: Record, names: Iterable[str]) -> dict[str, Any]:
    """The record's fields with each of ``names`` parsed by `ast.literal_eval` when a string.

    For fields that hold a Python literal as text, like CLUTRR's ``"('Herman', 'Rosalee')"``.
    """
    fields = dict(record.fields)
    for name in names:
        value = field(record, name)
        if isinstance(value, str):
            try:
                fields[name] = ast.literal_eval(value)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                shown = value if len(value) <= 60 else value[:57] + "..."
                raise record.error(f"has field {name!r} that is not a Python literal: {shown!r}") from None
    return fields


def check_template(key: str, template: object) -> None:
    """A ``str.format`` template over named fields only (``{story}``, ``{query[0]}``)."""
    if not isinstance(template, str):
        raise ValueError(f"{key} must be a str.format template string, got {template!r}")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"{key}: invalid template {template!r}: {error}") from None
    for _, name, _, _ in parts:
        if name is not None and (name == "" or name.split("[")[0].split(".")[0].isdigit()):
            raise ValueError(
                f"{key}: template {template!r} has a positional field {{{name}}}; name a record "
                "field instead, e.g. {story} or {query[0]} (write {{ and }} for literal braces)"
            )


def fill_template(record: Record, template: str, values: Mapping[str, Any]) -> str:
    """``template.format_map(values)``; a missing field or index names the record and template."""
    try:
        return template.format_map(values)
    except KeyError as error:
        problem = f"has no field {error.args[0]!r}"
    except IndexError as error:
        problem = f"has a list too short ({error})"
    except (TypeError, ValueError, AttributeError) as error:
        problem = f"does not fit ({error})"
    raise record.error(f"{problem} for the template {template!r}")


def check_record_task(task: Any) -> dict[str, str]:
    """Checks the keys every record reader has (name, data_subdir, format, files, id_field,
    metric, subset sizes); returns the split files (null: ``<split>.<format>``)."""
    for key in ("name", "data_subdir", "metric"):
        check_name(f"task.{key}", getattr(task, key))
    if task.format not in RECORD_FORMATS:
        raise ValueError(f"task.format must be one of {RECORD_FORMATS}, got {task.format!r}")
    if task.id_field is not None:
        check_name("task.id_field", task.id_field)
    check_max_examples("task.max_train_examples", task.max_train_examples)
    check_max_examples("task.max_eval_examples", task.max_eval_examples)
    return check_files("task.files", task.files, task.format)


def check_field_names(key: str, names: object, allow_empty: bool = False) -> None:
    """A list of distinct field names."""
    if (
        not isinstance(names, list)
        or (not names and not allow_empty)
        or len(set(names)) != len(names)
        or not all(isinstance(name, str) and name for name in names)
    ):
        raise ValueError(f"{key} must be a list of distinct field names, got {names!r}")
