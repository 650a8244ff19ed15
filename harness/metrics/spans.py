"""Spans from IOB2 tags, read two ways: as conlleval reads them (the score the papers report) and
strictly (seqeval's strict IOB2 mode).

Both readings agree on well-formed IOB2, where every ``I-X`` continues a span of type X. They
differ only on a *stray* ``I-X``: one at the start of a sentence, after ``O``, or after a tag of
another type (a type change inside a span). In both, a span of type X starts at ``B-X``, continues
over the directly following ``I-X`` tags, and ends before ``O``, before any ``B-``, and before an
``I-Y`` of another type; a stray ``I-X`` always ends the span before it. Then:

- ``iob2_spans`` (conlleval, the CoNLL-2003 ``conlleval.perl`` script, and seqeval's default mode):
  a stray ``I-X`` is repaired into the start of a span of type X. In conlleval.perl's terms
  (startOfChunk / endOfChunk, for tags O, B, I): a chunk starts at ``B``, at ``I`` after ``O``, and
  at any tag whose type differs from the previous tag's; it ends before ``O``, before ``B``, and
  before a tag of another type. So ``I-PER I-PER O`` is one PER span and ``B-PER I-LOC`` two spans.
- ``strict_iob2_spans`` (seqeval ``mode="strict", scheme=IOB2``): a stray ``I-X`` starts no span;
  it and the ``I-X`` tags after it are dropped. Model predictions contain stray tags (gold files
  rarely do), so this score can differ from conlleval's either way.

A predicted span is correct only if its type, start and end all equal a gold span's.

Why hand-written: seqeval, the usual implementation, has been unmaintained since 2020 and pulls in
scikit-learn; the definitions are a few lines. seqeval is a test reference only, never a runtime
dependency of harness/: tests/metrics/ compares both readings with it on thousands of random tag
sequences, and against hand-worked conlleval results.
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


def _read_spans(tags: Sequence[str], stray_inside_starts_a_span: bool) -> list[Span]:
    """The spans of one sentence; the flag is the one point where conlleval and strict IOB2 differ."""
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
        if prefix == "B" or (prefix == "I" and stray_inside_starts_a_span):
            open_type, open_start = entity_type, position
        # "O", and a stray "I-X" read strictly, leave nothing open.
    if open_type is not None:
        spans.append((open_type, open_start, len(tags)))
    return spans


def iob2_spans(tags: Sequence[str]) -> list[Span]:
    """The spans of one sentence as conlleval reads them (a stray I-X starts a span), in order:
    [(type, start, end_exclusive)]."""
    return _read_spans(tags, stray_inside_starts_a_span=True)


def strict_iob2_spans(tags: Sequence[str]) -> list[Span]:
    """The spans of one sentence read strictly (a stray I-X starts none), in order:
    [(type, start, end_exclusive)]."""
    return _read_spans(tags, stray_inside_starts_a_span=False)
