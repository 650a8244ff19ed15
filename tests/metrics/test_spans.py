"""Strict IOB2 span extraction: the CoNLL definition the span F1 of every NER result rests on."""

from __future__ import annotations

import pytest

from harness.metrics.spans import iob2_spans


def test_spans_start_at_b_and_continue_over_i_of_the_same_type():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
    # PER over 0..1; O ends it; B-LOC at 3 alone (the next B starts a new span); LOC 4..5; ORG at
    # the end of the sentence is closed by the sentence end.
    assert iob2_spans(tags) == [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6), ("ORG", 7, 8)]


def test_leading_i_starts_no_span_in_strict_mode():
    # I-PER at 0 and 1 continue nothing, so they are dropped (lenient conlleval would make PER 0..2);
    # B-LOC at 3 is the only span.
    assert iob2_spans(["I-PER", "I-PER", "O", "B-LOC"]) == [("LOC", 3, 4)]


def test_i_after_o_starts_no_span():
    # I-MISC at 2 follows O, so it is dropped; the MISC span is B-MISC at 0 alone.
    assert iob2_spans(["B-MISC", "O", "I-MISC"]) == [("MISC", 0, 1)]


def test_type_change_inside_a_span_ends_it_and_the_stray_i_is_dropped():
    # B-PER at 0 is PER 0..1; I-LOC at 1 does not continue PER, so it ends PER and starts nothing;
    # I-LOC at 2 then follows a dropped tag, so it starts nothing either.
    assert iob2_spans(["B-PER", "I-LOC", "I-LOC", "O"]) == [("PER", 0, 1)]


def test_types_may_contain_dashes_and_empty_sentences_have_no_spans():
    # Only the first dash separates the prefix: the type is "geo-loc", over 0..2.
    assert iob2_spans(["B-geo-loc", "I-geo-loc"]) == [("geo-loc", 0, 2)]
    assert iob2_spans([]) == []
    assert iob2_spans(["O", "O"]) == []


@pytest.mark.parametrize("tag", ["E-PER", "S-PER", "B-", "PER", "B_PER", ""])
def test_tags_outside_iob2_fail_naming_the_tag(tag):
    with pytest.raises(ValueError, match="not IOB2") as error:
        iob2_spans(["O", tag])
    assert repr(tag) in str(error.value) and "position 1" in str(error.value)
