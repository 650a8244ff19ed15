"""Span extraction from IOB2 tags, read as conlleval reads them (the definition of span_f1) and
strictly (span_f1_strict), checked by hand and against seqeval, the test-only reference."""

from __future__ import annotations

import random

import pytest
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, Tokens

from harness.metrics.spans import iob2_spans, strict_iob2_spans

# Random tag sequences whose spans are compared with seqeval's, in each reading.
SEQUENCES_COMPARED = 20_000
TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-geo-loc", "I-geo-loc")


# --- strict IOB2 (seqeval mode="strict", scheme=IOB2): a stray I-X starts no span ---------------


def test_spans_start_at_b_and_continue_over_i_of_the_same_type():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
    # PER over 0..1; O ends it; B-LOC at 3 alone (the next B starts a new span); LOC 4..5; ORG at
    # the end of the sentence is closed by the sentence end. Both readings agree on well-formed IOB2.
    expected = [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6), ("ORG", 7, 8)]
    assert strict_iob2_spans(tags) == expected
    assert iob2_spans(tags) == expected


def test_leading_i_starts_no_span_in_strict_mode():
    # I-PER at 0 and 1 continue nothing, so they are dropped; B-LOC at 3 is the only span.
    assert strict_iob2_spans(["I-PER", "I-PER", "O", "B-LOC"]) == [("LOC", 3, 4)]


def test_i_after_o_starts_no_span_in_strict_mode():
    # I-MISC at 2 follows O, so it is dropped; the MISC span is B-MISC at 0 alone.
    assert strict_iob2_spans(["B-MISC", "O", "I-MISC"]) == [("MISC", 0, 1)]


def test_type_change_inside_a_span_ends_it_and_the_stray_i_is_dropped_in_strict_mode():
    # B-PER at 0 is PER 0..1; I-LOC at 1 does not continue PER, so it ends PER and starts nothing;
    # I-LOC at 2 then follows a dropped tag, so it starts nothing either.
    assert strict_iob2_spans(["B-PER", "I-LOC", "I-LOC", "O"]) == [("PER", 0, 1)]


# --- conlleval (conlleval.perl, seqeval default mode): a stray I-X starts a span ----------------


def test_leading_i_starts_a_span():
    # conlleval startOfChunk: I after the sentence start (previous tag O) starts a chunk; the next
    # I-PER continues it; O ends it: PER 0..2. B-LOC at 3 is LOC 3..4.
    assert iob2_spans(["I-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]


def test_i_after_o_starts_a_span():
    # B-MISC at 0 alone (O ends it): MISC 0..1; I-MISC at 2 follows O, so it starts MISC 2..3.
    assert iob2_spans(["B-MISC", "O", "I-MISC"]) == [("MISC", 0, 1), ("MISC", 2, 3)]


def test_type_change_inside_a_span_ends_it_and_starts_a_span_of_the_new_type():
    # endOfChunk: the type changes (PER -> LOC), so PER 0..1 ends; startOfChunk: the type changes,
    # so LOC starts at 1 and I-LOC at 2 continues it: LOC 1..3.
    assert iob2_spans(["B-PER", "I-LOC", "I-LOC", "O"]) == [("PER", 0, 1), ("LOC", 1, 3)]


def test_changing_type_back_starts_a_third_span():
    # LOC 0..1; I-PER (another type) is PER 1..2; I-LOC (another type again) is LOC 2..3, not a
    # continuation of the first LOC.
    assert iob2_spans(["B-LOC", "I-PER", "I-LOC"]) == [("LOC", 0, 1), ("PER", 1, 2), ("LOC", 2, 3)]


def test_b_after_a_stray_i_of_the_same_type_starts_a_new_span():
    # I-PER at 0 starts PER 0..1; B-PER always starts a chunk, so it ends the first: PER 1..2.
    assert iob2_spans(["I-PER", "B-PER"]) == [("PER", 0, 1), ("PER", 1, 2)]


# --- both readings ------------------------------------------------------------------------------


@pytest.mark.parametrize("read", [iob2_spans, strict_iob2_spans])
def test_types_may_contain_dashes_and_empty_sentences_have_no_spans(read):
    # Only the first dash separates the prefix: the type is "geo-loc", over 0..2.
    assert read(["B-geo-loc", "I-geo-loc"]) == [("geo-loc", 0, 2)]
    assert read([]) == []
    assert read(["O", "O"]) == []


@pytest.mark.parametrize("read", [iob2_spans, strict_iob2_spans])
@pytest.mark.parametrize("tag", ["E-PER", "S-PER", "B-", "PER", "B_PER", ""])
def test_tags_outside_iob2_fail_naming_the_tag(read, tag):
    with pytest.raises(ValueError, match="not IOB2") as error:
        read(["O", tag])
    assert repr(tag) in str(error.value) and "position 1" in str(error.value)


def _seqeval_default_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    # get_entities gives (type, start, end_inclusive).
    return [(entity_type, start, end + 1) for entity_type, start, end in get_entities(tags)]


def _seqeval_strict_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    return [(entity.tag, entity.start, entity.end) for entity in Tokens(tags, IOB2).entities]


def test_both_readings_equal_seqeval_on_random_tag_sequences():
    rng = random.Random(20240610)
    disagreements = []
    for _ in range(SEQUENCES_COMPARED):
        tags = rng.choices(TAGS, k=rng.randint(0, 12))
        if iob2_spans(tags) != _seqeval_default_spans(tags):
            disagreements.append(("conlleval", tags))
        if strict_iob2_spans(tags) != _seqeval_strict_spans(tags):
            disagreements.append(("strict", tags))
    assert disagreements == [], f"{len(disagreements)} of {SEQUENCES_COMPARED} differ, e.g. {disagreements[:5]}"
