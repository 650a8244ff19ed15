"""Prompt -> target generation from JSON lines, a JSON list or CSV records.

The prompt is a Python ``str.format`` template over the record's fields, so ``{story}``,
``{query[0]}`` and ``{requested_rewrite[0][subject]}`` work. Two steps may prepare the fields:

- ``literal_fields``: fields whose string value is a Python literal (CLUTRR's query
  ``"('Herman', 'Rosalee')"``) are parsed with `ast.literal_eval` first.
- ``derived_fields``: new fields, in the order given, each ``{template, positional, replace}``
  (a bare string is a template alone). The template is filled from the record (and the fields
  derived before it); if ``positional`` templates are given, the result is itself a template with
  ``{}`` slots, filled with them (MQuAKE's ``"The capital of {} is"`` with its subject); then
  each ``replace`` pair is applied (CLUTRR's ``[Name]`` brackets removed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.tasks.base import SPLITS, TaskData, check_name, local_folder, task_data
from harness.tasks.examples import PromptTarget
from harness.tasks.records import (
    Record,
    check_field_names,
    check_record_task,
    check_template,
    example_id,
    field as record_field,
    fill_template,
    parse_literals,
    read_split_records,
)

_DERIVED_KEYS = ("template", "positional", "replace")


def _derived_spec(key: str, spec: Any) -> dict[str, Any]:
    """A derived field's spec, checked, with defaults filled in."""
    if isinstance(spec, str):
        spec = {"template": spec}
    if not isinstance(spec, dict) or "template" not in spec or set(spec) - set(_DERIVED_KEYS):
        raise ValueError(
            f"{key} must be a template string or a mapping with keys {_DERIVED_KEYS} "
            f"(template required), got {spec!r}"
        )
    positional = spec.get("positional") or []
    replace = spec.get("replace") or {}
    check_template(f"{key}.template", spec["template"])
    if not isinstance(positional, list):
        raise ValueError(f"{key}.positional must be a list of templates, got {positional!r}")
    for index, template in enumerate(positional):
        check_template(f"{key}.positional[{index}]", template)
    if not isinstance(replace, dict) or not all(
        isinstance(old, str) and old and isinstance(new, str) for old, new in replace.items()
    ):
        raise ValueError(f"{key}.replace must map non-empty strings to strings, got {replace!r}")
    return {"template": spec["template"], "positional": list(positional), "replace": dict(replace)}


@dataclass
class PromptTargetTask:
    """A prompt filled from each record's fields and the answer to generate, with its aliases."""

    name: str = "generation"
    """Task name used in result records and run ids."""
    data_subdir: str = "generation"
    """Folder under the data root holding the split files."""
    files: dict[str, str] | None = None
    """File name of each split, keys train, dev, test; null = <split>.<format>."""
    format: str = "jsonl"
    """jsonl (one JSON object a line), json (a list of objects) or csv (with a header row)."""
    prompt: str = "{prompt}"
    """str.format template of the prompt over the record's (and derived) fields."""
    literal_fields: list[str] = field(default_factory=list)
    """Fields whose string value is a Python literal, parsed with ast.literal_eval first."""
    derived_fields: dict[str, Any] = field(default_factory=dict)
    """New fields computed in order: name -> template or {template, positional, replace}."""
    target_field: str = "target"
    """The field holding the answer to generate."""
    aliases_field: str | None = None
    """The field holding a list of other accepted answers; null = none."""
    id_field: str | None = None
    """Field holding the example id; null = the record's 0-based position in its file."""
    metric: str = "exact_match"
    """Primary metric key."""
    max_train_examples: int | None = None
    """Train on a fixed random subset of this many examples (data seed 0); null = all."""
    max_eval_examples: int | None = None
    """Evaluate dev and test on fixed random subsets of this many examples; null = all."""

    def __post_init__(self) -> None:
        self.files = check_record_task(self)
        check_template("task.prompt", self.prompt)
        check_field_names("task.literal_fields", self.literal_fields, allow_empty=True)
        if not isinstance(self.derived_fields, dict):
            raise ValueError(f"task.derived_fields must be a mapping, got {self.derived_fields!r}")
        for name in self.derived_fields:
            check_name("task.derived_fields", name)
        self.derived_fields = {
            name: _derived_spec(f"task.derived_fields.{name}", spec)
            for name, spec in self.derived_fields.items()
        }
        check_name("task.target_field", self.target_field)
        if self.aliases_field is not None:
            check_name("task.aliases_field", self.aliases_field)

    @property
    def kind(self) -> str:
        return "generation"

    def load(self, data_root: Path | None) -> TaskData:
        """Reads ``<data_root>/<data_subdir>/<files>``; there is no Hub fallback."""
        folder = local_folder(self.name, data_root, self.data_subdir, self.files)
        records, data_hash = read_split_records(folder, self.files, self.format)
        splits = {split: self._examples(records[split]) for split in SPLITS}
        return task_data(
            splits, [], data_hash, str(folder), self.max_train_examples, self.max_eval_examples
        )

    def _examples(self, records: list[Record]) -> list[PromptTarget]:
        examples, seen = [], set()
        for record in records:
            values = self.fields(record)
            target = self._answer(record, values, self.target_field)
            aliases: tuple[str, ...] = ()
            if self.aliases_field is not None:
                value = record_field(record, self.aliases_field)
                if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
                    raise record.error(
                        f"has {self.aliases_field!r} = {value!r}: expected a list of strings"
                    )
                aliases = tuple(value)
            prompt = fill_template(record, self.prompt, values)
            identifier = example_id(record, self.id_field, seen)
            examples.append(PromptTarget(prompt, target, aliases, identifier))
        return examples

    def fields(self, record: Record) -> dict[str, Any]:
        """The record's fields after parsing literal_fields and adding derived_fields."""
        values = parse_literals(record, self.literal_fields)
        for name, spec in self.derived_fields.items():
            if name in values:
                raise record.error(f"already has a field {name!r} (task.derived_fields.{name})")
            value = fill_template(record, spec["template"], values)
            if spec["positional"]:
                arguments = [fill_template(record, t, values) for t in spec["positional"]]
                try:
                    value = value.format(*arguments)
                except (IndexError, KeyError, ValueError) as error:
                    raise record.error(
                        f"has {value!r} for task.derived_fields.{name}, not a template with "
                        f"{len(arguments)} positional slot(s) {{}} ({type(error).__name__}: {error})"
                    ) from None
            for old, new in spec["replace"].items():
                value = value.replace(old, new)
            values[name] = value
        return values

    def _answer(self, record: Record, values: dict[str, Any], name: str) -> str:
        if name not in values:
            record_field(record, name)  # raises, naming the record's fields
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
            raise record.error(f"has {name!r} = {value!r}: expected a non-empty string")
        return str(value)
