"""The response format of `span_generation` (sequence labeling posed as generation) and its parser
back to IOB2 tags.

**Format** (as the generative baseline of Dukić & Šnajder, which SIFT, Dukić, Glavaš & Šnajder
2025, arXiv 2509.00921, builds on): the sentence's spans in sentence order, each written as its
words joined by single spaces, a colon and its type (a tag type of the task, e.g. ``PER``); items
joined by ``ITEM_SEPARATOR`` (``"; "``); a sentence without spans answers ``none`` (configurable)::

    EU rejects German call to boycott British lamb .
    -> EU:ORG; German:MISC; British:MISC

**Parsing** (the generated text is cut at its first line break and stripped first):

- exactly the none answer: no spans (an empty answer too: nothing to parse);
- otherwise split at every ``;``; each item is stripped and split at its *last* ``:`` into span
  text and type (a word may hold a colon, a type never does);
- ``unparsed_items``: an item without a colon, or with an empty span or type (an empty item left
  by a doubled or trailing separator counts too);
- ``unknown_types``: a type that is not one of the task's;
- ``spans_not_in_sentence``: span words (split on whitespace) that are no contiguous word sequence
  of the sentence (exact, case-sensitive word matching);
- ``overlapping_spans``: the words occur, but every occurrence overlaps a span placed already (a
  span listed more often than it occurs, or nested and crossing spans);
- every other item is placed, left to right: at its first occurrence that starts at or after the
  end of the previous placed span and overlaps no placed span, else (the model listed spans out of
  order) at the first such occurrence anywhere. Placed spans become ``B-type I-type ...``.

A response cut by the generation budget (the formulation knows which) has its last item cut too:
if that item cannot be placed it counts as unparsed, not as the unknown type its cut text may look
like. Nothing is dropped silently: each dropped item is counted under one of the four names, which
the formulation sums per split into the record's scores.

The format cannot say *which* occurrence of a repeated word sequence is the span, so the round
trip tags -> response -> tags is exact unless a span's words also occur earlier in the sentence
outside a span listed before it; a span containing ``;`` cannot be written at all. Both are rare
in CoNLL-2003 (tests/formulations/test_span_response.py measures the round trip on its dev set).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from harness.metrics.spans import iob2_spans

ITEM_SEPARATOR = "; "
"""Between two items of a response."""
TYPE_SEPARATOR = ":"
"""Between an item's span words and its type."""
NONE_RESPONSE = "none"
"""The default answer of a sentence without spans."""


@dataclass
class ParseCounts:
    """What the parser could not place, by reason (see the module docstring)."""

    unparsed_items: int = 0
    spans_not_in_sentence: int = 0
    unknown_types: int = 0
    overlapping_spans: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def format_response(words: Sequence[str], tags: Sequence[str], none: str = NONE_RESPONSE) -> str:
    """The response for a sentence's IOB2 tags (spans read as conlleval reads them), in sentence order."""
    items = [f"{' '.join(words[start:end])}{TYPE_SEPARATOR}{kind}" for kind, start, end in iob2_spans(tags)]
    return ITEM_SEPARATOR.join(items) if items else none


def response_text(generated: str) -> str:
    """The answer in a generated text: up to its first line break, stripped."""
    return generated.split("\n", 1)[0].strip()


def parse_response(
    response: str, words: Sequence[str], types: Sequence[str], none: str = NONE_RESPONSE, finished: bool = True
) -> tuple[list[str], ParseCounts]:
    """IOB2 tags for ``words`` from a response, and what could not be placed (see the module
    docstring). ``finished=False`` (generation hit its token budget): the last item was cut, so if
    it cannot be placed it counts as unparsed, whatever else is wrong with it (a type cut to ``L``)."""
    tags = ["O"] * len(words)
    counts = ParseCounts()
    text = response_text(response)
    if not text or text == none:
        return tags, counts
    known = set(types)
    taken = [False] * len(words)
    cursor = 0
    items = text.split(";")
    for number, item in enumerate(items):
        placed = _place(item, words, known, taken, cursor, tags)
        if isinstance(placed, int):
            cursor = placed
        elif not finished and number == len(items) - 1:
            counts.unparsed_items += 1
        else:
            setattr(counts, placed, getattr(counts, placed) + 1)
    return tags, counts


def _place(
    item: str, words: Sequence[str], known: set[str], taken: list[bool], cursor: int, tags: list[str]
) -> int | str:
    """Tag one item's span (returning where it ends) or name the count it falls under."""
    span, colon, kind = item.strip().rpartition(TYPE_SEPARATOR)
    span, kind = span.strip(), kind.strip()
    if not colon or not span or not kind:
        return "unparsed_items"
    if kind not in known:
        return "unknown_types"
    span_words = span.split()
    starts = occurrences(span_words, words)
    if not starts:
        return "spans_not_in_sentence"
    free = [s for s in starts if not any(taken[s : s + len(span_words)])]
    if not free:
        return "overlapping_spans"
    start = next((s for s in free if s >= cursor), free[0])
    end = start + len(span_words)
    tags[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
    taken[start:end] = [True] * (end - start)
    return end


def occurrences(span_words: Sequence[str], words: Sequence[str]) -> list[int]:
    """Start positions where ``span_words`` occur in ``words`` as a contiguous sequence."""
    n = len(span_words)
    if n == 0:
        return []
    return [s for s in range(len(words) - n + 1) if list(words[s : s + n]) == list(span_words)]
