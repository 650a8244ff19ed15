"""The span response format: tags -> response -> tags round trips; every item the parser cannot
place is counted under its reason, never silently dropped; repeated spans are placed left to right."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.formulations.span_response import ParseCounts, format_response, parse_response, response_text

TYPES = ["PER", "LOC", "ORG", "MISC"]
SENTENCE = "EU rejects German call to boycott British lamb .".split()
TAGS = ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]


def _counts(**nonzero) -> ParseCounts:
    return ParseCounts(**nonzero)


def test_format_writes_spans_in_sentence_order_and_none_when_there_are_none():
    assert format_response(SENTENCE, TAGS) == "EU:ORG; German:MISC; British:MISC"
    assert format_response(["Peter", "Blackburn"], ["B-PER", "I-PER"]) == "Peter Blackburn:PER"
    assert format_response(["a", "b"], ["O", "O"]) == "none"
    assert format_response(["a", "b"], ["O", "O"], none="nothing") == "nothing"


def test_hand_written_responses_round_trip():
    assert parse_response("EU:ORG; German:MISC; British:MISC", SENTENCE, TYPES) == (TAGS, _counts())
    # a generated text is read up to its first line break, surrounding spaces ignored
    assert parse_response(" EU:ORG; German:MISC; British:MISC\n\nSentence: more", SENTENCE, TYPES) == (TAGS, _counts())
    assert parse_response("none", SENTENCE, TYPES) == (["O"] * 9, _counts())
    assert parse_response("", SENTENCE, TYPES) == (["O"] * 9, _counts())
    assert parse_response("  EU : ORG ;German:MISC", SENTENCE, TYPES)[0][:3] == ["B-ORG", "O", "B-MISC"]


def test_repeated_spans_are_placed_left_to_right():
    words = "Paris Hilton flew from Paris to Paris .".split()
    o = "O"
    # listed twice, occurring three times: the first two occurrences after the previous span
    tags, counts = parse_response("Paris Hilton:PER; Paris:LOC; Paris:LOC", words, TYPES)
    assert tags == ["B-PER", "I-PER", o, o, "B-LOC", o, "B-LOC", o] and counts == _counts()
    # the cursor skips occurrences before the previous span: the second "Paris" alone is LOC
    tags, _ = parse_response("Hilton:PER; Paris:LOC", words, TYPES)
    assert tags == [o, "B-PER", o, o, "B-LOC", o, o, o]
    # listed out of order: no occurrence after the cursor, so the first free one anywhere
    tags, counts = parse_response("Paris:LOC; Hilton:PER; Paris:LOC", "Paris Hilton Paris".split(), TYPES)
    assert tags == ["B-LOC", "B-PER", "B-LOC"] and counts == _counts()
    tags, counts = parse_response("Hilton:PER; Paris:LOC", "Paris Hilton".split(), TYPES)
    assert tags == ["B-LOC", "B-PER"] and counts == _counts()
    # listed more often than it occurs: the extra one overlaps a placed span, and is counted
    tags, counts = parse_response("Hilton:PER; Hilton:PER", words, TYPES)
    assert tags == [o, "B-PER", o, o, o, o, o, o] and counts == _counts(overlapping_spans=1)
    # adjacent spans of one type stay two spans (B- then B-)
    tags, _ = parse_response("Paris:LOC; Hilton:LOC", words, TYPES)
    assert tags[:2] == ["B-LOC", "B-LOC"]


@pytest.mark.parametrize(
    ("response", "tags", "counts"),
    [
        ("EU ORG", ["O"] * 9, {"unparsed_items": 1}),  # no colon
        (":ORG; EU:", ["O"] * 9, {"unparsed_items": 2}),  # empty span, empty type
        ("EU:ORG;; German:MISC;", TAGS[:6] + ["O"] * 3, {"unparsed_items": 2}),  # empty items
        ("EU:COMPANY; German:MISC", ["O", "O", "B-MISC"] + ["O"] * 6, {"unknown_types": 1}),
        ("EU:org", ["O"] * 9, {"unknown_types": 1}),  # types are exact
        ("Paris:LOC; eu:ORG; German call:MISC", ["O", "O", "B-MISC", "I-MISC"] + ["O"] * 5, {"spans_not_in_sentence": 2}),
        ("Germ:MISC; German ca:MISC", ["O"] * 9, {"spans_not_in_sentence": 2}),  # whole words only
        ("EU rejects:ORG; rejects German:MISC", ["B-ORG", "I-ORG"] + ["O"] * 7, {"overlapping_spans": 1}),  # crossing
        ("German call:MISC; German:MISC", ["O", "O", "B-MISC", "I-MISC"] + ["O"] * 5, {"overlapping_spans": 1}),  # nested
        ("EU:ORG; Germ", ["B-ORG"] + ["O"] * 8, {"unparsed_items": 1}),  # cut by the token budget
    ],
)
def test_malformed_items_are_counted_never_silently_dropped(response, tags, counts):
    parsed, parse_counts = parse_response(response, SENTENCE, TYPES)
    assert parsed == tags
    assert parse_counts == ParseCounts(**counts)
    placed = sum(tag.startswith("B-") for tag in parsed)
    items = len(response_text(response).split(";"))
    assert placed + sum(parse_counts.as_dict().values()) == items  # every item: placed or counted


def test_a_response_cut_by_the_budget_counts_its_cut_last_item_as_unparsed():
    for cut, counts in (("EU:ORG; German:MI", {"unparsed_items": 1}), ("EU:ORG; Germ", {"unparsed_items": 1})):
        tags, parse_counts = parse_response(cut, SENTENCE, TYPES, finished=False)
        assert tags == ["B-ORG"] + ["O"] * 8 and parse_counts == ParseCounts(**counts)
    assert parse_response("EU:ORG; German:MI", SENTENCE, TYPES)[1] == ParseCounts(unknown_types=1)  # finished: wrong
    # a last item that parses is placed even when cut (the model may have been done)
    assert parse_response("EU:ORG; German:MISC", SENTENCE, TYPES, finished=False) == (TAGS[:6] + ["O"] * 3, ParseCounts())
    # only the last item was cut: earlier ones count as they are
    assert parse_response("Paris:LOC; EU:OR", SENTENCE, TYPES, finished=False)[1] == ParseCounts(spans_not_in_sentence=1, unparsed_items=1)


def test_words_with_colons_and_the_none_word():
    words = ["Kick-off", "10:30", "none", "Note:"]
    tags, counts = parse_response("10:30:MISC; none:ORG; Note::PER", words, TYPES)
    assert tags == ["O", "B-MISC", "B-ORG", "B-PER"] and counts == _counts()
    assert format_response(words, tags) == "10:30:MISC; none:ORG; Note::PER"


WORDS = [f"w{i}" for i in range(30)] + [".", ",", "10:30", "U.S.", "(", ")"]


@st.composite
def tagged_sentences(draw):
    """Sentences of distinct words with well-formed IOB2 tags."""
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=15, unique=True))
    tags, i = [], 0
    while i < len(words):
        length = draw(st.integers(0, min(3, len(words) - i)))
        if length == 0:
            tags.append("O")
            i += 1
        else:
            kind = draw(st.sampled_from(TYPES))
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (length - 1)
            i += length
    return words, tags


@settings(max_examples=200, deadline=None)
@given(tagged_sentences())
def test_round_trip_on_random_sentences_of_distinct_words(sentence):
    words, tags = sentence
    assert parse_response(format_response(words, tags), words, TYPES) == (tags, ParseCounts())


def test_round_trip_on_conll2003(data_root: Path):
    """The format loses nothing on CoNLL-2003: every train, dev and test sentence round trips."""
    from harness.bench.common import task_from_conf

    data = task_from_conf("conll2003_ner").load(data_root)
    for split in ("train", "dev", "test"):
        for sentence in getattr(data, split):
            tags, counts = parse_response(format_response(sentence.words, sentence.tags), sentence.words, TYPES)
            assert (tags, counts) == (list(sentence.tags), ParseCounts()), (split, sentence.id)
