"""The label list a text-to-text classifier writes (`label_generation`, PTEC's "PT" baseline): its
format, its token ids, and parsing it back by exact match.

**Format.** The labels of an example in the task's label order (its ``labels``, for hate speech
the order of ``label_fields``), each written with one leading space and separated by ``;``, then
EOS::

    " Towards law enforcement; Swearing" + EOS        (two labels)
    " none" + EOS                                     (no label: the word ``none``)

The order is fixed so the target of an example is one string (the reference code of Buchner et
al. writes its labels joined by "; " too). An empty label set is the word ``none`` (``NONE``), not
an empty response: the model then always writes something, and the trie (`label_trie`) offers
``none`` only as the whole answer.

**Token ids.** The response is the concatenation of each piece's own tokenization: `` Label``
(leading space included), ``;``, `` Label``, ..., EOS; never the tokenization of the joined
string. Byte-level BPE merges punctuation across pieces (``)`` of ``Specific nation(s)`` and the
``;`` after it can become one token in the joined string), so only piecewise ids give every label
the one token sequence that the trie walks, in training and decoding alike. The decoded text is
the same either way.

**Parsing** (`parse_label_list`): the text up to its first line break, split at ``;``, each item
stripped of surrounding whitespace and compared with the label names by exact, case-sensitive
string equality. Never by substring: the reference code's ``label in text`` counts "hate" inside
"hateful". Items that name no label are counted (``unknown_items``), a label named twice counts
once (and in ``repeated_labels``), and ``none`` adds nothing. The last item of a response cut by
the generation budget is dropped unless it already is a whole label name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

SEPARATOR = ";"
"""Between two labels (each label piece carries its own leading space)."""
NONE = "none"
"""The response of an example without labels."""
LABEL_PREFIX = " "
"""Written before every label, and before ``none``."""


def check_labels(labels: Sequence[str]) -> None:
    """Labels the format can write and parse back: non-empty, no separator or line break, no
    surrounding spaces, none equal to the none word, no duplicates."""
    for label in labels:
        if not label or label != label.strip() or SEPARATOR in label or "\n" in label:
            raise ValueError(
                f"label {label!r}: a label list cannot hold it (labels must be non-empty, without {SEPARATOR!r}, "
                "line breaks or surrounding spaces)"
            )
        if label == NONE:
            raise ValueError(f"label {label!r}: equals the word written for an empty label set")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels have duplicates: {list(labels)}")


def label_list_text(gold: Sequence[str], labels: Sequence[str]) -> str:
    """The response text of an example with labels ``gold``, in the order of ``labels``."""
    ordered = [label for label in labels if label in set(gold)]
    if not ordered:
        return LABEL_PREFIX + NONE
    return SEPARATOR.join(LABEL_PREFIX + label for label in ordered)


@dataclass(frozen=True)
class LabelListIds:
    """The token ids of every piece of the format, for one tokenizer and label set."""

    labels: tuple[tuple[int, ...], ...]  # one sequence per label, in label order
    separator: tuple[int, ...]
    none: tuple[int, ...]
    eos: int

    @classmethod
    def build(cls, tokenizer, labels: Sequence[str]) -> "LabelListIds":
        check_labels(labels)

        def ids(text: str) -> tuple[int, ...]:
            return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])

        return cls(tuple(ids(LABEL_PREFIX + label) for label in labels), ids(SEPARATOR), ids(LABEL_PREFIX + NONE),
                   int(tokenizer.eos_token_id))  # fmt: skip

    def response(self, gold_indices: Sequence[int]) -> list[int]:
        """The response ids of an example with these label indices (sorted: label order), EOS last."""
        chosen = sorted(set(gold_indices))
        if not chosen:
            return [*self.none, self.eos]
        ids: list[int] = []
        for position, index in enumerate(chosen):
            if position:
                ids += self.separator
            ids += self.labels[index]
        return ids + [self.eos]


@dataclass
class ParseCounts:
    """What parsing one response (or a split's, summed) could not use."""

    unknown_items: int = 0
    repeated_labels: int = 0
    none_responses: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def parse_label_list(text: str, labels: Sequence[str], finished: bool = True) -> tuple[list[str], ParseCounts]:
    """The labels a response names (in label order, each once) and what could not be used. A
    response cut by the generation budget (``finished`` false) loses its last item unless that
    is already a whole label name: a cut label is unfinished, not unknown."""
    line = text.split("\n", 1)[0]
    known = set(labels)
    found: set[str] = set()
    counts = ParseCounts()
    items = [item.strip() for item in line.split(SEPARATOR)]
    if not finished and "\n" not in text and items[-1] not in known:
        items = items[:-1]
    if [item for item in items if item] == [NONE]:
        counts.none_responses = 1
    for item in items:
        if not item or item == NONE:
            continue
        if item not in known:  # exact match only: "hate" is not credited inside "hateful"
            counts.unknown_items += 1
        elif item in found:
            counts.repeated_labels += 1
        else:
            found.add(item)
    return [label for label in labels if label in found], counts
