"""SemEval-2014 restaurants, end-to-end aspect-based sentiment (Pontiki et al., 2014).

The split and format are those of BERT-E2E-ABSA (Li et al., 2019): one sentence a line,
``raw text####tok=TAG tok=TAG ...`` with tags ``O``, ``T-POS``, ``T-NEG``, ``T-NEU``. Consecutive
tokens with the same ``T-X`` form one aspect span, so we convert to BIO (``B-POS I-POS``) and a
change of polarity between adjacent tokens starts a new span. A token may itself contain ``=``
(``==O`` is the word ``=``), hence the split on the last ``=``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.tasks.base import (
    DataFormatError,
    LabeledSentence,
    TaskData,
    check_max_sentences,
    ordered_labels,
    read_splits,
    task_data,
)

SEPARATOR = "####"
POLARITIES = ("POS", "NEG", "NEU")
SOURCE_TAGS = frozenset({"O"} | {f"T-{p}" for p in POLARITIES})
ABSA_LABELS = ordered_labels(["O"] + [f"{b}-{p}" for p in POLARITIES for b in "BI"])


def to_bio(tags: list[str]) -> tuple[str, ...]:
    """``O T-POS T-POS T-NEG`` -> ``O B-POS I-POS B-NEG``: a run of one polarity is one span."""
    bio = []
    previous = "O"
    for tag in tags:
        if tag == "O":
            bio.append("O")
        else:
            bio.append(("I-" if tag == previous else "B-") + tag[2:])
        previous = tag
    return tuple(bio)


def parse_absa_lines(path: Path, lines: list[str]) -> list[LabeledSentence]:
    """Sentences of one ``text####tok=TAG ...`` file, tags converted to BIO; blank lines skipped."""
    sentences = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        _, separator, tagged = line.partition(SEPARATOR)
        if not separator:
            raise DataFormatError(path, number, f"missing {SEPARATOR!r} between text and tags")
        words, tags = [], []
        for item in tagged.split():
            word, equals, tag = item.rpartition("=")
            if not equals or not word:
                raise DataFormatError(path, number, f"item {item!r} is not word=TAG")
            if tag not in SOURCE_TAGS:
                expected = ", ".join(sorted(SOURCE_TAGS))
                raise DataFormatError(path, number, f"unknown tag {tag!r} (expected {expected})")
            words.append(word)
            tags.append(tag)
        if not words:
            raise DataFormatError(path, number, f"no tagged tokens after {SEPARATOR!r}")
        sentences.append(LabeledSentence(tuple(words), to_bio(tags)))
    return sentences


@dataclass
class Rest14AbsaTask:
    """SemEval-2014 restaurant reviews as BIO tagging of aspect spans with their polarity."""

    name: str = "rest14_absa"
    """Task name used in result records and run ids."""
    data_subdir: str = "rest14"
    """Folder under the data root holding train.txt, dev.txt and test.txt."""
    max_train_sentences: int | None = None
    """Train on a fixed random subset of this many sentences (data seed 0); null = all."""
    max_eval_sentences: int | None = None
    """Evaluate dev and test on fixed random subsets of this many sentences; null = all."""

    def __post_init__(self) -> None:
        check_max_sentences("task.max_train_sentences", self.max_train_sentences)
        check_max_sentences("task.max_eval_sentences", self.max_eval_sentences)

    @property
    def kind(self) -> str:
        return "sequence_labeling"

    @property
    def metric(self) -> str:
        return "span_f1"

    def load(self, data_root: Path | None) -> TaskData:
        """Reads ``<data_root>/<data_subdir>/{train,dev,test}.txt``; there is no Hub fallback."""
        if data_root is None:
            # The Hub has several rest14 copies with different splits and tokenisation; silently
            # picking one would make scores incomparable with the published ones.
            raise ValueError(
                f"task {self.name!r} has no canonical Hub dataset for this split: set "
                f"HARNESS_DATA_DIR to a folder that contains {self.data_subdir}/ "
                "(train.txt, dev.txt, test.txt in the BERT-E2E-ABSA format)"
            )
        folder = Path(data_root) / self.data_subdir
        splits, data_hash = read_splits(folder, parse_absa_lines)
        return task_data(
            splits,
            list(ABSA_LABELS),
            data_hash,
            str(folder),
            self.max_train_sentences,
            self.max_eval_sentences,
        )
