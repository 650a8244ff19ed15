"""Column files (the CoNLL family): sequence labeling of one column, tags converted to IOB2.

File format: one token a line, whitespace-separated columns (``word POS chunk NER`` for
CoNLL-2003), a blank line between sentences, and optionally document-separator lines such as
``-DOCSTART- -X- -X- O`` (skipped; they also end a sentence). Every line must have all the
configured columns.

Tags of span columns arrive in one of three schemes and leave as IOB2, the one scheme the span
metric and the models see (Ramshaw & Marcus, 1995; Tjong Kim Sang & Veenstra, 1999):

- ``iob2``: every span starts with ``B-X``. An ``I-X`` after anything but ``B-X``/``I-X`` is a
  corrupt file (or an IOB1 file declared as IOB2), and we refuse it rather than guess.
- ``iob1``: a span starts with ``I-X``; ``B-X`` only separates two adjacent spans of type X. An
  ``I-X`` that does not continue an X span becomes ``B-X``.
- ``bioes``: ``B-X I-X ... E-X`` for a span of several tokens, ``S-X`` for one token. ``S-X``
  becomes ``B-X`` and ``E-X`` becomes ``I-X``; a span left open or closed twice is an error.
- ``plain``: a tag per token with no spans (POS); kept as is, scored by token accuracy.

The Hub fallback reads a dataset with one row per sentence: ``tokens`` and, for each other column
C, ``C_tags`` with a ``ClassLabel`` feature whose names are the tag strings (``eriktks/conll2003``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.tasks.base import (
    SPLITS,
    DataFormatError,
    TaskData,
    check_files,
    check_max_examples,
    check_name,
    local_folder,
    ordered_labels,
    read_split_files,
    task_data,
)
from harness.tasks.examples import LabeledSentence

TAG_SCHEMES = ("iob1", "iob2", "bioes", "plain")
_PREFIXES = {"iob1": ("B", "I"), "iob2": ("B", "I"), "bioes": ("B", "I", "E", "S")}


class TagError(Exception):
    """A tag that breaks its scheme: ``index`` of the token within the sentence, and why."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


def _split_tag(column: str, scheme: str, tag: str, types: frozenset[str] | None, index: int):
    """``(prefix, type)`` of a span tag, ``("O", "")`` for outside; TagError if unknown."""
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    if dash and prefix in _PREFIXES[scheme] and kind and (types is None or kind in types):
        return prefix, kind
    prefixes = "/".join(f"{p}-" for p in _PREFIXES[scheme])
    of = f"of {', '.join(sorted(types))}" if types is not None else "and a type"
    raise TagError(index, f"unknown {column} tag {tag!r}: expected O or {prefixes} {of}")


def to_iob2(
    column: str, scheme: str, tags: Sequence[str], types: frozenset[str] | None = None
) -> tuple[str, ...]:
    """One sentence's ``tags`` in ``scheme``, validated and converted to IOB2 (plain: as is).

    ``types`` restricts the span types (None: any). Raises `TagError` at the first bad token.
    """
    if scheme == "plain":
        for index, tag in enumerate(tags):
            if not tag:
                raise TagError(index, f"empty {column} tag")
        return tuple(tags)
    result: list[str] = []
    previous: str | None = None  # the source tag before, None at the sentence start
    open_type: str | None = None  # bioes: the type of a span begun and not yet ended
    for index, tag in enumerate(tags):
        prefix, kind = _split_tag(column, scheme, tag, types, index)
        after = repr(previous) if previous is not None else "'the sentence start'"
        continues = previous in (f"B-{kind}", f"I-{kind}")
        if scheme == "iob2":
            if prefix == "I" and not continues:
                raise TagError(
                    index,
                    f"{column} tag {tag!r} follows {after}: IOB2 starts every span with B-{kind}",
                )
            result.append(tag)
        elif scheme == "iob1":
            result.append(f"B-{kind}" if prefix == "I" and not continues else tag)
        else:  # bioes
            if open_type is not None and (prefix not in ("I", "E") or kind != open_type):
                raise TagError(
                    index,
                    f"{column} tag {tag!r} follows {after}: BIOES continues the span with "
                    f"I-{open_type} or ends it with E-{open_type}",
                )
            if open_type is None and prefix in ("I", "E"):
                raise TagError(
                    index,
                    f"{column} tag {tag!r} follows {after}: BIOES starts a span with B-{kind} "
                    f"(S-{kind} for a single token)",
                )
            open_type = kind if prefix in ("B", "I") else None
            iob2_prefix = {"B": "B", "S": "B", "I": "I", "E": "I", "O": "O"}[prefix]
            result.append("O" if prefix == "O" else f"{iob2_prefix}-{kind}")
        previous = tag
    if open_type is not None:
        raise TagError(
            len(tags) - 1,
            f"{column} span {open_type} is still open at the sentence end: BIOES ends it with "
            f"E-{open_type}",
        )
    return tuple(result)


@dataclass
class ColumnTask:
    """Sequence labeling of one column of CoNLL-style column files (local files or the Hub)."""

    name: str = "columns"
    """Task name used in result records and run ids."""
    data_subdir: str = "columns"
    """Folder under the data root holding the split files."""
    files: dict[str, str] | None = None
    """File name of each split, keys train, dev, test; null = train.txt, dev.txt, test.txt."""
    columns: list[str] = field(default_factory=lambda: ["word", "tag"])
    """Names of the file's columns, in order (every line must have exactly these)."""
    word_column: str = "word"
    """The column holding the tokens."""
    tag_column: str = "tag"
    """The column to learn."""
    tag_scheme: str = "iob2"
    """Scheme of the tag column in the files: iob1, iob2, bioes (converted to IOB2) or plain."""
    tag_types: list[str] | None = None
    """Span types the tag column may use (e.g. PER, LOC, ORG, MISC), all in the labels; null = as seen."""
    check_columns: dict[str, str] = field(default_factory=dict)
    """Other columns validated with their scheme on every read ({chunk: iob2}), not learned."""
    document_separator: str | None = "-DOCSTART-"
    """Lines whose first field is this are skipped (and end a sentence); null = none."""
    hub_dataset: str | None = None
    """Hugging Face dataset id, read when no data root is given; null = local files only."""
    hub_revision: str | None = None
    """Hub revision (a branch, tag or commit) of hub_dataset."""
    hub_splits: dict[str, str] = field(
        default_factory=lambda: {"train": "train", "dev": "validation", "test": "test"}
    )
    """Hub split name for each of train, dev, test."""
    max_train_examples: int | None = None
    """Train on a fixed random subset of this many sentences (data seed 0); null = all."""
    max_eval_examples: int | None = None
    """Evaluate dev and test on fixed random subsets of this many sentences; null = all."""

    def __post_init__(self) -> None:
        for key in ("name", "data_subdir", "word_column", "tag_column"):
            check_name(f"task.{key}", getattr(self, key))
        self.files = check_files("task.files", self.files, "txt")
        self._check_columns()
        self._check_tags()
        if self.document_separator is not None:
            check_name("task.document_separator", self.document_separator)
        if self.hub_dataset is not None:
            check_name("task.hub_dataset", self.hub_dataset)
        if set(self.hub_splits) != set(SPLITS):
            raise ValueError(
                f"task.hub_splits must map each of train, dev, test, got {self.hub_splits!r}"
            )
        check_max_examples("task.max_train_examples", self.max_train_examples)
        check_max_examples("task.max_eval_examples", self.max_eval_examples)

    def _check_columns(self) -> None:
        names = self.columns
        if (
            not isinstance(names, list)
            or len(names) < 2
            or len(set(names)) != len(names)
            or not all(isinstance(c, str) and c.strip() and len(c.split()) == 1 for c in names)
        ):
            raise ValueError(f"task.columns must be 2 or more distinct names, got {names!r}")
        for key in ("word_column", "tag_column"):
            if getattr(self, key) not in names:
                raise ValueError(
                    f"task.{key}: {getattr(self, key)!r} is not one of task.columns {names}"
                )
        if self.word_column == self.tag_column:
            raise ValueError("task.tag_column must differ from task.word_column")

    def _check_tags(self) -> None:
        if self.tag_scheme not in TAG_SCHEMES:
            raise ValueError(
                f"task.tag_scheme must be one of {TAG_SCHEMES}, got {self.tag_scheme!r}"
            )
        types = self.tag_types
        if types is not None:
            if self.tag_scheme == "plain":
                raise ValueError("task.tag_types: only span schemes (iob1, iob2, bioes) have types")
            if not types or not all(isinstance(t, str) and t and "-" not in t for t in types):
                raise ValueError(
                    f"task.tag_types must be a non-empty list of type names, got {types!r}"
                )
        for column, scheme in self.check_columns.items():
            if column not in self.columns or column == self.word_column:
                raise ValueError(
                    f"task.check_columns: {column!r} is not a tag column of task.columns "
                    f"{self.columns}"
                )
            if scheme not in TAG_SCHEMES:
                raise ValueError(
                    f"task.check_columns.{column} must be one of {TAG_SCHEMES}, got {scheme!r}"
                )
            if column == self.tag_column and scheme != self.tag_scheme:
                raise ValueError(
                    f"task.check_columns.{column}: {scheme!r} disagrees with task.tag_scheme "
                    f"{self.tag_scheme!r}"
                )

    @property
    def kind(self) -> str:
        return "sequence_labeling"

    @property
    def metric(self) -> str:
        return "token_accuracy" if self.tag_scheme == "plain" else "span_f1"

    def load(self, data_root: Path | None) -> TaskData:
        """Reads ``<data_root>/<data_subdir>/<files>``, or hub_dataset when the data root is None."""
        if data_root is None and self.hub_dataset is not None:
            splits, data_hash, source = self._read_hub()
        else:
            folder = local_folder(self.name, data_root, self.data_subdir, self.files)
            splits, data_hash = read_split_files(folder, self.files, self._parse_file)
            source = str(folder)
        everything = [s for split in SPLITS for s in splits[split]]
        return task_data(
            splits,
            self._labels(everything),
            data_hash,
            source,
            self.max_train_examples,
            self.max_eval_examples,
        )

    def _labels(self, sentences: list[LabeledSentence]) -> list[str]:
        """Span columns: "O" and both B- and I- of every type, since a split may hold only one of
        them (CoNLL-2003 dev has I-PRT, train has none) and the model must be able to emit either.
        Plain columns: the tags seen."""
        tags = {tag for sentence in sentences for tag in sentence.tags}
        if self.tag_scheme == "plain":
            return ordered_labels(tags)
        types = {t[2:] for t in tags if t != "O"} if self.tag_types is None else set(self.tag_types)
        return ordered_labels({"O"} | {f"{p}-{t}" for t in types for p in "BI"})

    def _checks(self) -> dict[str, str]:
        """Column -> scheme of every column validated on read, the tag column first."""
        return {self.tag_column: self.tag_scheme, **self.check_columns}

    def _sentence(
        self, rows: list[Sequence[str]], sentence_id: str, where: str | Path, line_of
    ) -> LabeledSentence:
        """Validates the checked columns of one sentence's rows; ``line_of(i)`` locates row i."""
        tag_types = frozenset(self.tag_types) if self.tag_types is not None else None
        tags = None
        for column, scheme in self._checks().items():
            index = self.columns.index(column)
            types = tag_types if column == self.tag_column else None
            try:
                converted = to_iob2(column, scheme, [row[index] for row in rows], types)
            except TagError as error:
                raise DataFormatError(where, line_of(error.index), error.message) from None
            if column == self.tag_column:
                tags = converted
        words = self.columns.index(self.word_column)
        return LabeledSentence(tuple(row[words] for row in rows), tags, sentence_id)

    def _parse_file(self, path: Path, lines: list[str]) -> list[LabeledSentence]:
        """Sentences of one column file; ids are their 0-based positions in the file."""
        sentences: list[LabeledSentence] = []
        rows: list[list[str]] = []
        numbers: list[int] = []

        def flush() -> None:
            if rows:
                sentences.append(
                    self._sentence(rows, str(len(sentences)), path, lambda i: numbers[i])
                )
                rows.clear()
                numbers.clear()

        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields or fields[0] == self.document_separator:
                flush()
                continue
            if len(fields) != len(self.columns):
                raise DataFormatError(
                    path,
                    number,
                    f"expected {len(self.columns)} columns ({' '.join(self.columns)}), "
                    f"got {len(fields)}",
                )
            rows.append(fields)
            numbers.append(number)
        flush()
        return sentences

    def _read_hub(self) -> tuple[dict[str, list[LabeledSentence]], str, str]:
        import datasets  # heavy import, and only this path needs it

        dataset = datasets.load_dataset(self.hub_dataset, revision=self.hub_revision)
        tag_columns = [c for c in self.columns if c != self.word_column]
        digest = hashlib.sha256(self.hub_dataset.encode())
        splits: dict[str, list[LabeledSentence]] = {}
        for split in SPLITS:
            hub_split = self.hub_splits[split]
            rows = dataset[hub_split]
            where = f"{self.hub_dataset}[{hub_split}]"
            wanted = ["tokens"] + [f"{c}_tags" for c in tag_columns]
            if any(name not in rows.features for name in wanted):
                raise ValueError(
                    f"{where}: expected the features {', '.join(wanted)} (from task.columns), "
                    f"found {', '.join(rows.features)}"
                )
            names = {c: rows.features[f"{c}_tags"].feature.names for c in tag_columns}
            row_ids = rows["id"] if "id" in rows.features else [str(i) for i in range(len(rows))]
            columns = [row_ids, rows["tokens"]] + [rows[f"{c}_tags"] for c in tag_columns]
            sentences = []
            for number, (row_id, words, *tag_ids) in enumerate(zip(*columns), start=1):
                if not words or words[0] == self.document_separator:
                    continue
                if any(len(ids) != len(words) for ids in tag_ids):
                    raise DataFormatError(where, number, "tag lists differ in length from tokens")
                tags = {c: [names[c][i] for i in ids] for c, ids in zip(tag_columns, tag_ids)}
                table = [
                    [word if c == self.word_column else tags[c][i] for c in self.columns]
                    for i, word in enumerate(words)
                ]
                sentences.append(self._sentence(table, str(row_id), where, lambda i: number))
                digest.update(json.dumps([split, list(words), tags], sort_keys=True).encode())
            if not sentences:
                raise DataFormatError(where, 1, "the split holds no sentences")
            splits[split] = sentences
        return splits, digest.hexdigest(), f"hub:{self.hub_dataset}"

