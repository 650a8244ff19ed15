"""Text classification, single- or multi-label, from JSON lines, a JSON list or CSV records.

The text is one or more fields joined by a separator. Labels come in one of two layouts:

- ``label_field``: one field holding the label (a string or integer), or for multi-label tasks a
  list of labels (or, in CSV, a string split on ``label_separator``). The inventory is every label
  seen in the three splits, sorted.
- ``label_fields``: one 0/1 field per label (the hate speech set of Buchner et al., 2024). The
  inventory is those field names, in the order given. ``label_fields: auto`` takes, in the order
  of the first train record, every field other than the text and id fields whose value is 0 or 1
  in every record of every split: convenient, but a 0/1 field that is not a label (a flag) would
  become one, so data sets in the benchmark list their labels explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.tasks.base import SPLITS, TaskData, check_name, local_folder, task_data
from harness.tasks.examples import LabeledText
from harness.tasks.records import (
    Record,
    check_field_names,
    check_record_task,
    example_id,
    field as record_field,
    read_split_records,
    text_field,
)

_ZERO_ONE = {0: False, 1: True, "0": False, "1": True}


def _flag(value: Any) -> bool | None:
    """True/False for a 0/1 value (integer, boolean or CSV string), None for anything else."""
    if isinstance(value, (bool, int, str)):
        return _ZERO_ONE.get(value)
    return None


@dataclass
class TextClassificationTask:
    """Texts with one label (single-label) or a set of labels (multi-label), from records."""

    name: str = "text_classification"
    """Task name used in result records and run ids."""
    data_subdir: str = "text_classification"
    """Folder under the data root holding the split files."""
    files: dict[str, str] | None = None
    """File name of each split, keys train, dev, test; null = <split>.<format>."""
    format: str = "jsonl"
    """jsonl (one JSON object a line), json (a list of objects) or csv (with a header row)."""
    text_fields: list[str] = field(default_factory=lambda: ["text"])
    """Fields whose strings, joined by text_separator, are the text to classify."""
    text_separator: str = "\n"
    """Joins the text fields."""
    label_field: str | None = "label"
    """The field holding the label (or the list of labels); null when label_fields is set."""
    label_separator: str | None = None
    """Splits a string label_field into several labels (multi-label CSV); null = one label."""
    label_fields: Any = None
    """One 0/1 field per label, as a list of field names or auto (see the module docstring)."""
    multi_label: bool = False
    """Whether a text may have any number of labels (else exactly one)."""
    id_field: str | None = None
    """Field holding the example id; null = the record's 0-based position in its file."""
    metric: str = "macro_f1"
    """Primary metric key."""
    max_train_examples: int | None = None
    """Train on a fixed random subset of this many texts (data seed 0); null = all."""
    max_eval_examples: int | None = None
    """Evaluate dev and test on fixed random subsets of this many texts; null = all."""

    def __post_init__(self) -> None:
        self.files = check_record_task(self)
        check_field_names("task.text_fields", self.text_fields)
        if not isinstance(self.text_separator, str):
            raise ValueError(f"task.text_separator must be a string, got {self.text_separator!r}")
        if (self.label_field is None) == (self.label_fields is None):
            raise ValueError(
                "task.label_field and task.label_fields: set exactly one (a field holding the "
                "label, or one 0/1 field per label), and the other to null"
            )
        if self.label_field is not None:
            check_name("task.label_field", self.label_field)
        if self.label_fields is not None and self.label_fields != "auto":
            check_field_names("task.label_fields", self.label_fields)
        if self.label_separator is not None:
            check_name("task.label_separator", self.label_separator)
            if self.label_field is None or not self.multi_label:
                raise ValueError("task.label_separator needs task.label_field and multi_label: true")
        if not isinstance(self.multi_label, bool):
            raise ValueError(f"task.multi_label must be true or false, got {self.multi_label!r}")
        reserved = set(self.text_fields) | {self.id_field}
        overlap = reserved & ({self.label_field} | set(self._explicit_label_fields()))
        if overlap:
            raise ValueError(f"task: {sorted(overlap)} cannot be both a text/id and a label field")

    @property
    def kind(self) -> str:
        return "text_classification"

    def _explicit_label_fields(self) -> list[str]:
        return self.label_fields if isinstance(self.label_fields, list) else []

    def load(self, data_root: Path | None) -> TaskData:
        """Reads ``<data_root>/<data_subdir>/<files>``; there is no Hub fallback."""
        folder = local_folder(self.name, data_root, self.data_subdir, self.files)
        records, data_hash = read_split_records(folder, self.files, self.format)
        if self.label_fields == "auto":
            label_fields = self._auto_label_fields(records)
        else:
            label_fields = self._explicit_label_fields()
        splits = {split: self._texts(records[split], label_fields) for split in SPLITS}
        if label_fields:
            labels = list(label_fields)
        else:
            labels = sorted({label for split in SPLITS for t in splits[split] for label in t.labels})
        return task_data(
            splits, labels, data_hash, str(folder), self.max_train_examples,
            self.max_eval_examples,
        )  # fmt: skip

    def _auto_label_fields(self, records: dict[str, list[Record]]) -> list[str]:
        first = records["train"][0]
        skip = set(self.text_fields) | {self.id_field}
        everything = [r for split in SPLITS for r in records[split]]
        found = [
            name
            for name in first.fields
            if name not in skip
            and all(_flag(r.fields.get(name)) is not None for r in everything)
        ]
        if not found:
            raise first.error("has no field whose values are all 0 or 1 (task.label_fields: auto)")
        return found

    def _texts(self, records: list[Record], label_fields: list[str]) -> list[LabeledText]:
        texts, seen = [], set()
        for record in records:
            parts = [text_field(record, name) for name in self.text_fields]
            text = self.text_separator.join(parts)
            if not any(part.strip() for part in parts):
                raise record.error(f"has an empty text (fields {self.text_fields})")
            labels = self._record_labels(record, label_fields)
            if not self.multi_label and len(labels) != 1:
                raise record.error(
                    f"has {len(labels)} labels {list(labels)}, and the task is single-label "
                    "(set multi_label: true if a text may have several or none)"
                )
            texts.append(LabeledText(text, labels, example_id(record, self.id_field, seen)))
        return texts

    def _record_labels(self, record: Record, label_fields: list[str]) -> tuple[str, ...]:
        if label_fields:
            labels = []
            for name in label_fields:
                flag = _flag(record_field(record, name))
                if flag is None:
                    value = record.fields[name]
                    raise record.error(f"has label field {name!r} = {value!r}, expected 0 or 1")
                if flag:
                    labels.append(name)
            return tuple(labels)
        value = record_field(record, self.label_field)
        if isinstance(value, str) and self.label_separator is not None:
            value = [part.strip() for part in value.split(self.label_separator) if part.strip()]
        values = value if isinstance(value, list) else [value]
        if not all(not isinstance(v, bool) and isinstance(v, (str, int)) and str(v) for v in values):
            raise record.error(f"has label {value!r}: expected a non-empty string or integer")
        return tuple(sorted({str(v) for v in values}))
