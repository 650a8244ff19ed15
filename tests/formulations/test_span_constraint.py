"""Constrained decoding for span generation: under any logits, every span written is a word sequence
of the query and every type one of the task's; the allowed tokens are exactly those that keep the
text a prefix of a valid response; a batch's rows are constrained by their own sentences."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.formulations.span_constraint import SentenceAutomaton, SpanConstraint, TokenVocabulary
from harness.formulations.span_response import parse_response

TYPES = ["PER", "LOC", "ORG", "MISC"]
WORDS = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", ".", ",", "U.S.", "10:30",
         "Germany", "none", "'s", "Nöel", "N\U0001d518el", "a;b", "(", ")", "--"]  # fmt: skip
PROMPT_WIDTH = 3


@pytest.fixture(scope="module")
def vocabulary(smollm2_tokenizer) -> TokenVocabulary:
    return TokenVocabulary(smollm2_tokenizer)


def _decode(constraint, vocabulary, steps: int, logits) -> list[list[int]]:
    """Greedy decoding of every row under ``constraint`` with the given per-step logits (B, V)."""
    rows = len(constraint.automata)
    ids = torch.zeros((rows, PROMPT_WIDTH), dtype=torch.long)
    done = [False] * rows
    out: list[list[int]] = [[] for _ in range(rows)]
    for step in range(steps):
        scores = constraint(ids, logits(step).clone())
        chosen = scores.argmax(-1)
        for row, token in enumerate(chosen.tolist()):
            if not done[row]:
                out[row].append(token)
                done[row] = token in constraint.stops
        ids = torch.cat([ids, chosen[:, None]], dim=1)
        if all(done):
            break
    return out


def _text(vocabulary, tokens: list[int]) -> str:
    return "".join(vocabulary.texts[t] for t in tokens if t != vocabulary.eos_token_id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    sentences=st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
    temperature=st.sampled_from([1.0, 5.0]),
)
def test_constrained_decoding_never_writes_a_span_absent_from_the_query(vocabulary, sentences, seed, temperature):
    """Random logits (some steps favour a line break, so answers also end): every complete item
    parses to a span of its own row's sentence with a known type."""
    constraint = SpanConstraint(vocabulary, sentences, TYPES)
    generator = torch.Generator().manual_seed(seed)
    size = len(vocabulary.texts)
    newline = vocabulary.newline_ids[0]

    def logits(step):
        scores = torch.randn((len(sentences), size), generator=generator) * temperature
        if step % 7 == 6:
            scores[:, newline] += 20.0  # taken only where an answer may end
        return scores

    for words, tokens in zip(sentences, _decode(constraint, vocabulary, 40, logits)):
        text = _text(vocabulary, tokens)
        ended = bool(tokens) and tokens[-1] in constraint.stops
        tags, counts = parse_response(text, words, TYPES, finished=ended)
        assert counts.spans_not_in_sentence == 0 and counts.unknown_types == 0, (words, text)
        if ended:  # a finished answer is whole: none, or items that all parse
            assert counts.unparsed_items == 0, (words, text)
            answer = text.split("\n", 1)[0]
            assert answer.startswith(" ") and (answer == " none" or ":" in answer), (words, text)
        else:  # cut by the budget: only its last item may be unfinished
            assert counts.unparsed_items <= 1, (words, text)
        for word in ("N\U0001d518el", "a;b"):  # words no single token spells, or the parser splits, are never offered
            assert f"{word}:" not in text


def test_favoured_absent_words_are_never_written(vocabulary, smollm2_tokenizer):
    """Logits that prefer words absent from the query, and unknown types, cannot get them written."""
    words = ["Peter", "Blackburn", "visited", "Brussels", "."]
    constraint = SpanConstraint(vocabulary, [words], TYPES)
    favoured = [" Paris", " London", "PERSON", " Black", "burn", ":", "LOC", ";", " Brussels", " Peter"]
    bias = torch.zeros(len(vocabulary.texts))
    for rank, text in enumerate(favoured):
        bias[smollm2_tokenizer(text, add_special_tokens=False)["input_ids"][0]] = 100.0 - rank
    (tokens,) = _decode(constraint, vocabulary, 30, lambda step: bias[None].clone())
    text = _text(vocabulary, tokens)
    tags, counts = parse_response(text, words, TYPES)
    assert counts.spans_not_in_sentence == counts.unknown_types == 0
    assert "Paris" not in text and "London" not in text and "PERSON" not in text
    assert text.startswith(" Blackburn:"), text  # " Black" + "burn" do spell a query word


def test_allowed_tokens_are_exactly_those_that_keep_a_valid_prefix(vocabulary):
    """The trie walk against brute force over the whole vocabulary, at several points of a response."""
    words = ["New", "York", "Times", "'s", "U.S.", "office"]
    automaton = SentenceAutomaton(words, TYPES, " ", vocabulary.single_chars)
    constraint = SpanConstraint(vocabulary, [words], TYPES)
    for written in ["", " ", " New", " New Yo", " New York:", " New York:LO", " New York:LOC", " New York:LOC; ", " no", " none"]:
        states = automaton.read(automaton.start, written)
        assert states, written
        expected = set()
        for token, text in enumerate(vocabulary.texts):
            if not text:
                continue
            before, newline, _ = text.partition("\n")
            after = automaton.read(states, before)
            if after and (not newline or automaton.accepting(after)):
                expected.add(token)
        if automaton.accepting(states):
            expected.add(vocabulary.eos_token_id)
        assert set(constraint.allowed(0, states)) == expected, written
    # at the start only the prefix space (alone or with a word's start) or none; never a type or a separator
    start = {vocabulary.texts[t] for t in constraint.allowed(0, automaton.start)}
    assert " New" in start and " U" in start and " none" in start and " Paris" not in start and ":" not in start


def test_each_row_is_constrained_by_its_own_sentence(vocabulary):
    sentences = [["Alpha", "Beta"], ["Gamma", "Delta"]]
    constraint = SpanConstraint(vocabulary, sentences, TYPES)
    scores = constraint(torch.zeros((2, PROMPT_WIDTH), dtype=torch.long), torch.zeros((2, len(vocabulary.texts))))
    allowed = [{vocabulary.texts[t] for t in (row > float("-inf")).nonzero().flatten().tolist()} for row in scores]
    assert " Alpha" in allowed[0] and " Gamma" not in allowed[0]
    assert " Gamma" in allowed[1] and " Alpha" not in allowed[1]


def test_generate_with_a_tiny_model_writes_only_query_spans(smollm2_tokenizer):
    """Through `generate` (left padding, KV cache, the formulation's line-break stops)."""
    from transformers import AutoModelForCausalLM

    from harness.formulations.generation import generate_batch
    from harness.models.backbone import load_config
    from tests.tiny_models import model_spec

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(load_config(model_spec("tiny_llama"))).eval()
    vocabulary = TokenVocabulary(smollm2_tokenizer)
    sentences = [["EU", "rejects", "German", "call", "."], ["Peter", "Blackburn"], ["BRUSSELS", "1996-08-22"]]
    prompts = [smollm2_tokenizer(f"Sentence: {' '.join(w)}\nSpans:")["input_ids"] for w in sentences]
    constraint = SpanConstraint(vocabulary, sentences, TYPES)
    outputs = generate_batch(model, smollm2_tokenizer, prompts, 24, [constraint], stop_token_ids=vocabulary.newline_ids)
    for words, tokens in zip(sentences, outputs):
        text = smollm2_tokenizer.decode(tokens, skip_special_tokens=True)
        _, counts = parse_response(text, words, TYPES, finished="\n" in text or len(tokens) < 24)
        assert counts.spans_not_in_sentence == counts.unknown_types == 0, text
        assert text.startswith(" "), text
