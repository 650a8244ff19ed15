"""Aspect-based sentiment in the ``text####tok=TAG`` format, as BIO tagging of aspect spans.

The format is that of BERT-E2E-ABSA (Li et al., 2019), used for the SemEval-2014/15/16 restaurant
and laptop sets: one sentence a line, ``raw text####tok=TAG tok=TAG ...`` with tags ``O``,
``T-POS``, ``T-NEG``, ``T-NEU``. Consecutive tokens with the same source tag form one aspect span,
so we convert to BIO (``B-POS I-POS``), and a change of polarity between adjacent tokens starts a
new span. A token may itself contain ``=`` (``==O`` is the word ``=``), hence the split on the
last ``=``. There is no Hub fallback: the Hub's copies differ in split and tokenisation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.tasks.base import (
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

DEFAULT_SPAN_TAGS = {"T-POS": "POS", "T-NEG": "NEG", "T-NEU": "NEU"}


def to_bio(
    tags: Sequence[str], span_tags: Mapping[str, str] = DEFAULT_SPAN_TAGS, outside: str = "O"
) -> tuple[str, ...]:
    """``O T-POS T-POS T-NEG`` -> ``O B-POS I-POS B-NEG``: a run of one source tag is one span."""
    bio = []
    previous = outside
    for tag in tags:
        if tag == outside:
            bio.append("O")
        else:
            bio.append(("I-" if tag == previous else "B-") + span_tags[tag])
        previous = tag
    return tuple(bio)


@dataclass
class AbsaTask:
    """Aspect spans with their polarity, from ``text####tok=TAG`` lines, as IOB2 tagging."""

    name: str = "absa"
    """Task name used in result records and run ids."""
    data_subdir: str = "absa"
    """Folder under the data root holding the split files."""
    files: dict[str, str] | None = None
    """File name of each split, keys train, dev, test; null = train.txt, dev.txt, test.txt."""
    text_separator: str = "####"
    """Separates the raw text from the tagged tokens on each line."""
    tag_separator: str = "="
    """Separates a token from its tag (split on its last occurrence)."""
    outside_tag: str = "O"
    """The source tag of tokens outside every aspect."""
    span_tags: dict[str, str] | None = None
    """Source tag -> span type; consecutive equal ones form a span; null = T-POS/NEG/NEU: POS/NEG/NEU."""
    max_train_examples: int | None = None
    """Train on a fixed random subset of this many sentences (data seed 0); null = all."""
    max_eval_examples: int | None = None
    """Evaluate dev and test on fixed random subsets of this many sentences; null = all."""

    def __post_init__(self) -> None:
        for key in ("name", "data_subdir", "text_separator", "tag_separator", "outside_tag"):
            check_name(f"task.{key}", getattr(self, key))
        self.files = check_files("task.files", self.files, "txt")
        if self.span_tags is None:  # a default dict would merge with, not yield to, a YAML's map
            self.span_tags = dict(DEFAULT_SPAN_TAGS)
        if not isinstance(self.span_tags, dict) or not self.span_tags or not all(
            isinstance(kind, str) and kind and not kind.split()[1:] and "-" not in kind
            for kind in self.span_tags.values()
        ):
            raise ValueError(
                f"task.span_tags must map source tags to span type names, got {self.span_tags!r}"
            )
        if self.outside_tag in self.span_tags:
            raise ValueError(f"task.span_tags: {self.outside_tag!r} is task.outside_tag")
        check_max_examples("task.max_train_examples", self.max_train_examples)
        check_max_examples("task.max_eval_examples", self.max_eval_examples)

    @property
    def kind(self) -> str:
        return "sequence_labeling"

    @property
    def metric(self) -> str:
        return "span_f1"

    def _labels(self) -> list[str]:
        """"O" and B-/I- of every span type, whether or not the data uses it."""
        types = set(self.span_tags.values())
        return ordered_labels({"O"} | {f"{p}-{t}" for t in types for p in "BI"})

    def load(self, data_root: Path | None) -> TaskData:
        """Reads ``<data_root>/<data_subdir>/<files>``; there is no Hub fallback."""
        folder = local_folder(self.name, data_root, self.data_subdir, self.files)
        splits, data_hash = read_split_files(folder, self.files, self.parse_lines)
        return task_data(
            splits, self._labels(), data_hash, str(folder), self.max_train_examples,
            self.max_eval_examples,
        )  # fmt: skip

    def parse_lines(self, path: Path, lines: list[str]) -> list[LabeledSentence]:
        """Sentences of one file, tags converted to BIO, blank lines skipped; ids are positions."""
        known = {self.outside_tag, *self.span_tags}
        sentences = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            _, separator, tagged = line.partition(self.text_separator)
            if not separator:
                raise DataFormatError(
                    path, number, f"missing {self.text_separator!r} between text and tags"
                )
            words, tags = [], []
            for item in tagged.split():
                word, equals, tag = item.rpartition(self.tag_separator)
                if not equals or not word:
                    raise DataFormatError(path, number, f"item {item!r} is not word{self.tag_separator}TAG")
                if tag not in known:
                    expected = ", ".join(sorted(known))
                    raise DataFormatError(path, number, f"unknown tag {tag!r} (expected {expected})")
                words.append(word)
                tags.append(tag)
            if not words:
                raise DataFormatError(path, number, f"no tagged tokens after {self.text_separator!r}")
            bio = to_bio(tags, self.span_tags, self.outside_tag)
            sentences.append(LabeledSentence(tuple(words), bio, str(len(sentences))))
        return sentences
