"""What every sequence-labeling task produces, and the reading rules the task loaders share.

A task reads its three splits into `LabeledSentence`s (one tag per word), names its label
inventory, and fingerprints the bytes it read so a result record can say which data it saw.
Malformed input fails loudly with a `DataFormatError` pointing at ``file:line``: a silently
skipped line changes the benchmark without anyone noticing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "dev", "test")

DATA_SEED = 0
"""Seed of the sentence subsets: fixed, so every run of a sweep sees the same data."""


@dataclass(frozen=True)
class LabeledSentence:
    """One sentence as words, with one tag per word (IOB2 for span tasks, a plain tag for POS)."""

    words: tuple[str, ...]
    tags: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.words) != len(self.tags):
            raise ValueError(f"{len(self.words)} words but {len(self.tags)} tags")


@dataclass
class TaskData:
    """The three splits of a task, its label inventory, and where the data came from."""

    train: list[LabeledSentence]
    dev: list[LabeledSentence]
    test: list[LabeledSentence]
    labels: list[str]  # "O" first (where the tag scheme has it), then sorted
    data_hash: str  # sha256 over the bytes of the files read (or over the Hub rows' content)
    source: str  # the folder read, or "hub:<dataset id>"


class DataFormatError(ValueError):
    """A data file that does not follow its format; ``str()`` is ``path:line: message``."""

    def __init__(self, path: str | Path, line_number: int, message: str) -> None:
        self.path = str(path)
        self.line_number = line_number  # 1-based, like editors and compilers
        self.message = message
        super().__init__(f"{self.path}:{line_number}: {message}")

    def __reduce__(self):  # keeps the three-argument constructor picklable (multiprocessing)
        return (type(self), (self.path, self.line_number, self.message))


def read_text_lines(path: Path) -> tuple[list[str], bytes]:
    """The file's lines as UTF-8 text (a BOM and Windows line ends tolerated) and its raw bytes.

    Decoding the whole file at once is fast; only on failure do we count newlines up to the bad
    byte, so the error names the line a person can open.
    """
    data = path.read_bytes()
    body = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        line = body.count(b"\n", 0, error.start) + 1
        message = f"not valid UTF-8 (byte {body[error.start]:#04x})"
        raise DataFormatError(path, line, message) from None
    # split("\n"), not splitlines(): the latter also breaks on \x1c, \x85, \u2028, which would
    # make our line numbers disagree with every editor's.
    return [line.removesuffix("\r") for line in text.split("\n")], data


def hash_files(contents: Sequence[tuple[str, bytes]]) -> str:
    """sha256 over (name, length, bytes) of each file, so moving lines between files changes it."""
    digest = hashlib.sha256()
    for name, data in contents:
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def subsample(
    sentences: list[LabeledSentence], max_sentences: int | None, seed: int = DATA_SEED
) -> list[LabeledSentence]:
    """A deterministic random subset of ``max_sentences`` sentences, kept in file order.

    Ranking by sha256(seed, index) rather than a library RNG keeps the subset identical across
    Python and numpy versions, and nests: the first 1,000 are also among the first 2,000. A random
    subset rather than the first N because CoNLL files are ordered by document, so the first N
    sentences would come from a handful of news stories.
    """
    if max_sentences is None or max_sentences >= len(sentences):
        return list(sentences)

    def rank(index: int) -> bytes:
        return hashlib.sha256(f"{seed}:{index}".encode()).digest()

    chosen = sorted(sorted(range(len(sentences)), key=rank)[:max_sentences])
    return [sentences[i] for i in chosen]


def ordered_labels(tags: Iterable[str]) -> list[str]:
    """The label inventory: "O" first when present (so id 0 is "outside"), the rest sorted."""
    unique = set(tags)
    head = ["O"] if "O" in unique else []
    return head + sorted(unique - {"O"})


def check_max_sentences(key: str, value: int | None) -> None:
    """Schema check shared by the task dataclasses: None, or a positive number of sentences."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{key} must be a positive integer or null (all sentences), got {value!r}")


def read_splits(
    folder: Path, parse: Callable[[Path, list[str]], list[LabeledSentence]]
) -> tuple[dict[str, list[LabeledSentence]], str]:
    """Reads ``<folder>/{train,dev,test}.txt`` with ``parse``; returns the splits and their hash."""
    splits: dict[str, list[LabeledSentence]] = {}
    contents: list[tuple[str, bytes]] = []
    for split in SPLITS:
        path = folder / f"{split}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the {split} split is missing (expected {SPLITS})")
        lines, data = read_text_lines(path)
        sentences = parse(path, lines)
        if not sentences:
            raise DataFormatError(path, 1, "the file holds no sentences")
        splits[split] = sentences
        contents.append((path.name, data))
    return splits, hash_files(contents)


def task_data(
    splits: dict[str, list[LabeledSentence]],
    labels: list[str],
    data_hash: str,
    source: str,
    max_train_sentences: int | None,
    max_eval_sentences: int | None,
) -> TaskData:
    """Assembles `TaskData`, drawing the subsets after the labels were taken from the full data.

    Labels come from all sentences, not the subset, so a model's head has the same classes
    whatever ``max_train_sentences`` a sweep picks.
    """
    return TaskData(
        train=subsample(splits["train"], max_train_sentences),
        dev=subsample(splits["dev"], max_eval_sentences),
        test=subsample(splits["test"], max_eval_sentences),
        labels=labels,
        data_hash=data_hash,
        source=source,
    )
