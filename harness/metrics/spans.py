"""Spans from IOB2 tags, read strictly (seqeval strict mode), for the CoNLL span F1.

Definition (seqeval's ``mode="strict", scheme=IOB2``): a span of type X starts at ``B-X`` and
continues over the directly following ``I-X`` tags of the same type; it ends at ``O``, at any
``B-``, or at an ``I-Y`` of another type. An ``I-X`` that does not continue a span of type X (at the
start of a sentence, after ``O``, or after a tag of another type) starts no span: it is dropped,
never repaired into one. A predicted span is correct only if its type, start and end all equal a
gold span's. On well-formed IOB2 (every gold file, and any prediction without stray ``I-`` tags)
this equals the CoNLL-2003 ``conlleval`` score; conlleval and seqeval's default mode instead repair
a stray ``I-X`` into the start of a span, so their scores can differ from this one either way.

Why hand-written: seqeval, the usual implementation, has been unmaintained since 2020 and pulls in
scikit-learn; the definition is a few lines, and tests/metrics/ checks these against scores
computed by hand (including seqeval's own README example).
"""

from __future__ import annotations

from collections.abc import Sequence

Span = tuple[str, int, int]
"""(type, start, end) with end exclusive, in token positions of one sentence."""


def _split_tag(tag: str, position: int) -> tuple[str, str]:
    """("B" | "I" | "O", type) for one tag; anything outside IOB2 fails, naming the tag."""
    if not isinstance(tag, str):
        kind = type(tag).__name__
        raise TypeError(f"tag at position {position} is {kind} {tag!r}, expected str")
    if tag == "O":
        return "O", ""
    prefix, dash, entity_type = tag.partition("-")
    if prefix not in ("B", "I") or not dash or not entity_type:
        raise ValueError(
            f"tag {tag!r} at position {position} is not IOB2: expected 'O', 'B-<type>' or 'I-<type>'"
        )
    return prefix, entity_type


def iob2_spans(tags: Sequence[str]) -> list[Span]:
    """The strict IOB2 spans of one sentence's tags, in order: [(type, start, end_exclusive)]."""
    spans: list[Span] = []
    open_type: str | None = None  # type of the span being extended, None when outside a span
    open_start = 0
    for position, tag in enumerate(tags):
        prefix, entity_type = _split_tag(tag, position)
        if prefix == "I" and entity_type == open_type:
            continue  # extends the open span
        if open_type is not None:
            spans.append((open_type, open_start, position))
            open_type = None
        if prefix == "B":
            open_type, open_start = entity_type, position
        # "O" and a stray "I-X" (strict mode) leave nothing open.
    if open_type is not None:
        spans.append((open_type, open_start, len(tags)))
    return spans
