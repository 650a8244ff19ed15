"""What every task produces, and the reading rules the task readers share.

A task reads its three splits into examples (`harness.tasks.examples`: labeled sentences, labeled
texts, choice questions or prompt/target pairs), names its label inventory, and fingerprints the
bytes it read so a result record can say which data it saw. Malformed input fails loudly with a
`DataFormatError` pointing at ``file:line``: a silently skipped line changes the benchmark
without anyone noticing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, Union

from harness.tasks.examples import ChoiceQuestion, LabeledSentence, LabeledText, PromptTarget

SPLITS = ("train", "dev", "test")

DATA_SEED = 0
"""Seed of the example subsets: fixed, so every run of a sweep sees the same data."""

Example = Union[LabeledSentence, LabeledText, ChoiceQuestion, PromptTarget]
ExampleT = TypeVar("ExampleT")

__all__ = [  # LabeledSentence is re-exported for code that still imports it from here
    "DATA_SEED",
    "SPLITS",
    "DataFormatError",
    "Example",
    "LabeledSentence",
    "TaskData",
    "check_files",
    "check_max_examples",
    "check_name",
    "hash_files",
    "local_folder",
    "ordered_labels",
    "read_split_files",
    "read_text_lines",
    "subsample",
    "task_data",
]


@dataclass
class TaskData:
    """The three splits of a task, its label inventory, and where the data came from."""

    train: list[Example]
    dev: list[Example]
    test: list[Example]
    # Tags or classes: "O" first for span tags, then sorted; label fields in their given order;
    # empty for multiple choice and generation, whose answers are not a closed set.
    labels: list[str]
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
    examples: list[ExampleT], max_examples: int | None, seed: int = DATA_SEED
) -> list[ExampleT]:
    """A deterministic random subset of ``max_examples`` examples, kept in file order.

    Ranking by sha256(seed, index) rather than a library RNG keeps the subset identical across
    Python and numpy versions, and nests: the first 1,000 are also among the first 2,000. A random
    subset rather than the first N because CoNLL files are ordered by document, so the first N
    sentences would come from a handful of news stories.
    """
    if max_examples is None or max_examples >= len(examples):
        return list(examples)

    def rank(index: int) -> bytes:
        return hashlib.sha256(f"{seed}:{index}".encode()).digest()

    chosen = sorted(sorted(range(len(examples)), key=rank)[:max_examples])
    return [examples[i] for i in chosen]


def ordered_labels(tags: Sequence[str] | set[str]) -> list[str]:
    """The label inventory: "O" first when present (so id 0 is "outside"), the rest sorted."""
    unique = set(tags)
    head = ["O"] if "O" in unique else []
    return head + sorted(unique - {"O"})


def check_max_examples(key: str, value: int | None) -> None:
    """Schema check shared by the task dataclasses: None, or a positive number of examples."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{key} must be a positive integer or null (all examples), got {value!r}")


def check_name(key: str, value: object) -> None:
    """A name, field or folder setting: a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} must be a non-empty string, got {value!r}")


def check_files(key: str, files: object, extension: str) -> dict[str, str]:
    """``files`` as given (null: ``<split>.<extension>``), checked to name exactly the 3 splits."""
    if files is None:
        return {split: f"{split}.{extension}" for split in SPLITS}
    if (
        not isinstance(files, Mapping)
        or set(files) != set(SPLITS)
        or not all(isinstance(name, str) and name.strip() for name in files.values())
    ):
        raise ValueError(
            f"{key} must map each of train, dev, test to a file name in the task folder, "
            f"got {files!r}"
        )
    return {split: files[split] for split in SPLITS}


def local_folder(
    task_name: str, data_root: Path | None, data_subdir: str, files: Mapping[str, str]
) -> Path:
    """``<data_root>/<data_subdir>``; a clear error when there is no data root or no such folder."""
    listing = ", ".join(files[split] for split in SPLITS)
    if data_root is None:
        raise ValueError(
            f"task {task_name!r} reads local files only: set HARNESS_DATA_DIR (paths.data_dir) "
            f"to a folder that contains {data_subdir}/ ({listing})"
        )
    folder = Path(data_root) / data_subdir
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: no such folder; task {task_name!r} reads {listing} from it "
            f"(task.data_subdir={data_subdir!r} under the data root {data_root})"
        )
    return folder


def read_split_files(
    folder: Path,
    files: Mapping[str, str],
    parse: Callable[[Path, list[str]], list[ExampleT]],
) -> tuple[dict[str, list[ExampleT]], str]:
    """Reads each split's file in ``folder`` with ``parse``; returns the splits and their hash."""
    splits: dict[str, list[ExampleT]] = {}
    contents: list[tuple[str, bytes]] = []
    for split in SPLITS:
        path = folder / files[split]
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: the {split} split is missing (task.files names {dict(files)})"
            )
        lines, data = read_text_lines(path)
        examples = parse(path, lines)
        if not examples:
            raise DataFormatError(path, 1, "the file holds no examples")
        splits[split] = examples
        contents.append((files[split], data))
    return splits, hash_files(contents)


def task_data(
    splits: Mapping[str, list[Example]],
    labels: list[str],
    data_hash: str,
    source: str,
    max_train_examples: int | None,
    max_eval_examples: int | None,
) -> TaskData:
    """Assembles `TaskData`, drawing the subsets after the labels were taken from the full data.

    Labels come from all examples, not the subset, so a model's head has the same classes
    whatever ``max_train_examples`` a sweep picks.
    """
    return TaskData(
        train=subsample(splits["train"], max_train_examples),
        dev=subsample(splits["dev"], max_eval_examples),
        test=subsample(splits["test"], max_eval_examples),
        labels=labels,
        data_hash=data_hash,
        source=source,
    )
