"""CoNLL-2003 (Tjong Kim Sang & De Meulder, 2003): NER, chunking or POS tagging of Reuters news.

File format, one token a line with four space-separated columns ``word POS chunk NER``, a blank
line between sentences, ``-DOCSTART- -X- -X- O`` lines between documents (skipped). NER and chunk
tags are IOB2: every span starts with ``B-X``, so an ``I-X`` after anything but ``B-X``/``I-X`` is a
corrupt file (or the original IOB1 release), and we refuse it rather than guess.

The Hub copy (``eriktks/conll2003``) has one row per sentence with integer ``pos_tags``,
``chunk_tags`` and ``ner_tags`` whose ``ClassLabel`` names are the same strings.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from harness.tasks.base import (
    SPLITS,
    DataFormatError,
    LabeledSentence,
    TaskData,
    check_max_sentences,
    ordered_labels,
    read_splits,
    task_data,
)

COLUMNS = ("pos", "chunk", "ner")  # the file's columns after the word, in order
ENTITY_TYPES = ("PER", "LOC", "ORG", "MISC")
NER_LABELS = ordered_labels(["O"] + [f"{p}-{t}" for t in ENTITY_TYPES for p in "BI"])

_NER_TAG = re.compile(r"O|[BI]-(?:PER|LOC|ORG|MISC)")
_CHUNK_TAG = re.compile(r"O|[BI]-[A-Z]+")
_HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


def tag_problem(column: str, tag: str, previous: str | None) -> str | None:
    """Why ``tag`` is invalid after ``previous`` (None at a sentence start); None if valid."""
    if column == "pos":
        return None if tag else "empty POS tag"
    pattern, what = (
        (_NER_TAG, "O or B-/I- of PER, LOC, ORG, MISC")
        if column == "ner"
        else (_CHUNK_TAG, "O or B-/I- of an upper-case phrase type")
    )
    if not pattern.fullmatch(tag):
        return f"unknown {column} tag {tag!r}: expected {what}"
    if tag.startswith("I-") and previous not in (f"B-{tag[2:]}", tag):
        return (
            f"{column} tag {tag!r} follows {previous or 'the sentence start'!r}: IOB2 starts "
            f"every span with B-{tag[2:]}"
        )
    return None


def parse_conll_lines(path: Path, lines: list[str], column: str) -> list[LabeledSentence]:
    """Sentences of one CoNLL-2003 file, tagged with ``column``; every column is validated."""
    keep = COLUMNS.index(column) + 1
    sentences: list[LabeledSentence] = []
    rows: list[list[str]] = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if rows:
                sentences.append(_sentence(rows, keep))
                rows = []
            continue
        if len(fields) != 4:
            raise DataFormatError(
                path, number, f"expected 4 columns (word POS chunk NER), got {len(fields)}"
            )
        for index, name in enumerate(COLUMNS, start=1):
            previous = rows[-1][index] if rows else None
            problem = tag_problem(name, fields[index], previous)
            if problem:
                raise DataFormatError(path, number, problem)
        rows.append(fields)
    if rows:
        sentences.append(_sentence(rows, keep))
    return sentences


def _sentence(rows: list[list[str]], keep: int) -> LabeledSentence:
    return LabeledSentence(tuple(r[0] for r in rows), tuple(r[keep] for r in rows))


def labels_for(column: str, sentences: list[LabeledSentence]) -> list[str]:
    """NER has a fixed inventory; chunk types are those seen, each with both B- and I-; POS as seen.

    Chunk labels get both prefixes because a split may hold only one of them (dev has I-PRT,
    train has none) and the model must be able to emit either.
    """
    if column == "ner":
        return list(NER_LABELS)
    tags = {tag for sentence in sentences for tag in sentence.tags}
    if column == "chunk":
        tags = {"O"} | {f"{p}-{t[2:]}" for t in tags if t != "O" for p in "BI"}
    return ordered_labels(tags)


@dataclass
class Conll2003Task:
    """CoNLL-2003 as a sequence-labeling task over one of its three tag columns."""

    name: str = "conll2003_ner"
    """Task name used in result records and run ids."""
    column: str = "ner"
    """Which tag column to learn: ner, chunk or pos."""
    data_subdir: str = "conll2003"
    """Folder under the data root holding train.txt, dev.txt and test.txt."""
    hub_dataset: str = "eriktks/conll2003"
    """Hugging Face dataset id, used when no data root is given."""
    hub_revision: str | None = "refs/convert/parquet"
    """Hub revision: the Parquet conversion, since datasets>=4 refuses the repo's loading script."""
    max_train_sentences: int | None = None
    """Train on a fixed random subset of this many sentences (data seed 0); null = all."""
    max_eval_sentences: int | None = None
    """Evaluate dev and test on fixed random subsets of this many sentences; null = all."""

    def __post_init__(self) -> None:
        if self.column not in COLUMNS:
            raise ValueError(f"task.column must be one of {COLUMNS}, got {self.column!r}")
        check_max_sentences("task.max_train_sentences", self.max_train_sentences)
        check_max_sentences("task.max_eval_sentences", self.max_eval_sentences)

    @property
    def kind(self) -> str:
        return "sequence_labeling"

    @property
    def metric(self) -> str:
        return "token_accuracy" if self.column == "pos" else "span_f1"

    def load(self, data_root: Path | None) -> TaskData:
        """Reads ``<data_root>/<data_subdir>/{train,dev,test}.txt``, or the Hub copy when None."""
        if data_root is None:
            splits, data_hash, source = self._read_hub()
        else:
            folder = Path(data_root) / self.data_subdir
            splits, data_hash = read_splits(
                folder, lambda path, lines: parse_conll_lines(path, lines, self.column)
            )
            source = str(folder)
        everything = [s for split in SPLITS for s in splits[split]]
        return task_data(
            splits,
            labels_for(self.column, everything),
            data_hash,
            source,
            self.max_train_sentences,
            self.max_eval_sentences,
        )

    def _read_hub(self) -> tuple[dict[str, list[LabeledSentence]], str, str]:
        import datasets  # heavy import, and only this path needs it

        dataset = datasets.load_dataset(self.hub_dataset, revision=self.hub_revision)
        digest = hashlib.sha256(self.hub_dataset.encode())
        splits: dict[str, list[LabeledSentence]] = {}
        for split, hub_split in _HUB_SPLITS.items():
            rows = dataset[hub_split]
            where = f"{self.hub_dataset}[{hub_split}]"
            names = {c: rows.features[f"{c}_tags"].feature.names for c in COLUMNS}
            columns = [rows["tokens"]] + [rows[f"{c}_tags"] for c in COLUMNS]
            sentences = []
            for number, (words, *tag_ids) in enumerate(zip(*columns), start=1):
                if not words or words[0] == "-DOCSTART-":
                    continue
                if any(len(ids) != len(words) for ids in tag_ids):
                    raise DataFormatError(where, number, "tag lists differ in length from tokens")
                tags = {c: [names[c][i] for i in ids] for c, ids in zip(COLUMNS, tag_ids)}
                for c in COLUMNS:
                    for previous, tag in zip([None] + tags[c][:-1], tags[c]):
                        problem = tag_problem(c, tag, previous)
                        if problem:
                            raise DataFormatError(where, number, problem)  # number = row
                digest.update(json.dumps([split, list(words), tags], sort_keys=True).encode())
                sentences.append(LabeledSentence(tuple(words), tuple(tags[self.column])))
            if not sentences:
                raise DataFormatError(where, 1, "the split holds no sentences")
            splits[split] = sentences
        return splits, digest.hexdigest(), f"hub:{self.hub_dataset}"
