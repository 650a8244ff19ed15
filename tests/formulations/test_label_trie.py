"""The label trie (`pt_trie`'s constrained decoding): whatever the model's scores, a decoded response
is a list of distinct valid labels (or the none word alone), with separators only between
complete labels and EOS only after one; and it keeps a real tokenizer's label lists parseable."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.formulations.label_list import LabelListIds, parse_label_list
from harness.formulations.label_trie import LabelTrie, LabelTrieProcessor, label_trie_processor

EOS, SEPARATOR_TOKENS, VOCAB = 1, (2, 3), 40
LABEL_TOKENS = st.integers(min_value=10, max_value=16)  # few values: labels share prefixes often


@st.composite
def label_sets(draw):
    """Distinct token sequences (some a prefix of another), a separator of 1 or 2 tokens, a none word."""
    sequences = draw(st.lists(st.lists(LABEL_TOKENS, min_size=1, max_size=4).map(tuple), min_size=1, max_size=6, unique=True))
    none = draw(st.lists(LABEL_TOKENS, min_size=1, max_size=3).map(tuple).filter(lambda s: s not in sequences))
    separator = SEPARATOR_TOKENS[: draw(st.integers(1, 2))]
    return LabelListIds(tuple(sequences), separator, none, EOS)


def split_items(tokens: list[int], separator: tuple[int, ...]) -> list[tuple[int, ...]]:
    """A response's items: its tokens split at each occurrence of the separator."""
    items, current, i = [], [], 0
    while i < len(tokens):
        if tuple(tokens[i : i + len(separator)]) == separator:
            items.append(tuple(current))
            current, i = [], i + len(separator)
        else:
            current.append(tokens[i])
            i += 1
    return items + [tuple(current)]


def decode(processor: LabelTrieProcessor, scores: torch.Tensor, eos: int = EOS, prompt_width: int = 3) -> list[list[int]]:
    """Greedy decoding of a batch under the processor, from random per-step scores (B, steps, V);
    each row up to and including its EOS."""
    batch, steps, _ = scores.shape
    tokens = torch.zeros(batch, prompt_width, dtype=torch.long)  # any prompt: the processor reads only new tokens
    finished = torch.zeros(batch, dtype=torch.bool)
    for step in range(steps):
        constrained = processor(tokens, scores[:, step].clone())
        chosen = constrained.argmax(-1)
        for row in range(batch):  # every chosen token of a live row was allowed (finite)
            assert finished[row] or torch.isfinite(constrained[row, chosen[row]])
        chosen = torch.where(finished, torch.full_like(chosen, eos), chosen)  # finished rows are padded
        finished |= chosen == eos
        tokens = torch.cat([tokens, chosen[:, None]], dim=1)
        if bool(finished.all()):
            break
    rows = tokens[:, prompt_width:].tolist()
    return [row[: row.index(eos) + 1] if eos in row else row for row in rows]


def check_response(row: list[int], ids: LabelListIds) -> None:
    """A response (or its start, when cut by the step budget) is distinct labels joined by the
    separator, or the none word alone; EOS only after a complete item. Separator tokens are not
    label tokens here, so the items are found by splitting at the separator."""
    ended = bool(row) and row[-1] == ids.eos
    body = row[:-1] if ended else list(row)
    partial = 0  # tokens of a separator the budget cut
    if not ended:
        partial = next((k for k in range(len(ids.separator) - 1, 0, -1) if tuple(body[-k:]) == ids.separator[:k]), 0)
        body = body[: len(body) - partial]
    items = split_items(body, ids.separator)
    complete, last = (items, ()) if ended or partial else (items[:-1], items[-1])
    if complete and complete[0] == ids.none:
        assert complete == [ids.none] and not last and not partial, f"none with more: {row}"
        return
    labels = set(ids.labels)
    assert all(item in labels for item in complete), f"not a label: {row} ({ids})"
    assert len(set(complete)) == len(complete), f"a label written twice: {row}"
    assert complete or not partial, f"a separator before any label: {row}"
    if last:
        still_open = [s for s in labels if s not in complete] + ([ids.none] if not complete else [])
        assert any(s[: len(last)] == last for s in still_open), f"not the start of an allowed item: {row} ({ids})"


@settings(max_examples=150, deadline=None)
@given(ids=label_sets(), seed=st.integers(0, 2**31 - 1), steps=st.integers(1, 30))
def test_trie_never_admits_an_invalid_or_repeated_label(ids, seed, steps):
    scores = torch.randn(3, steps, VOCAB, generator=torch.Generator().manual_seed(seed)) * 5
    for row in decode(LabelTrieProcessor(LabelTrie(ids)), scores):
        check_response(row, ids)


def test_the_check_catches_what_the_trie_must_prevent():
    """The property test's checker itself: it fails repeated, unknown, misplaced and none-mixed responses."""
    ids = LabelListIds(((10,), (10, 11), (12,)), (2,), (13,), EOS)
    for good in ([10, EOS], [10, 11, 2, 10, EOS], [13, EOS], [10, 2], [10, 2, 12], [10], [13]):
        check_response(good, ids)
    for bad in ([10, 2, 10, EOS], [14, EOS], [2, 10, EOS], [13, 2, 10, EOS], [10, 2, EOS], [10, 2, 2, 12, EOS]):
        with pytest.raises(AssertionError):
            check_response(bad, ids)


def test_after_a_complete_label_only_separator_eos_or_a_longer_label():
    ids = LabelListIds(((10,), (10, 11), (12,)), (2,), (13,), EOS)
    trie = LabelTrie(ids)
    state = trie.start()
    assert sorted(trie.allowed(state)) == [10, 12, 13]
    state = trie.advance(state, 10)  # label 0 complete; label 1 continues with 11
    assert sorted(trie.allowed(state)) == sorted([11, 2, EOS])
    state = trie.advance(trie.advance(state, 2), 12)  # "10 ; 12"
    assert sorted(trie.allowed(state)) == sorted([2, EOS])  # label 1 (10 11) is still open
    state = trie.advance(state, 2)
    assert trie.allowed(state) == [10]  # label 0 is used, so 10 leads only to label 1
    state = trie.advance(state, 10)
    assert trie.allowed(state) == [11]  # "10" alone would repeat label 0: no separator, no EOS
    state = trie.advance(state, 11)
    assert trie.allowed(state) == [EOS]  # every label written: no separator
    with pytest.raises(ValueError, match="not allowed"):
        trie.advance(state, 2)


def test_none_only_as_the_whole_answer():
    trie = LabelTrie(LabelListIds(((10,), (12,)), (2,), (13, 14), EOS))
    state = trie.advance(trie.start(), 13)
    assert trie.allowed(state) == [14]
    assert trie.allowed(trie.advance(state, 14)) == [EOS]
    after_label = trie.advance(trie.advance(trie.start(), 10), 2)
    assert trie.allowed(after_label) == [12]  # no none after a label


def test_labels_holding_the_separator_or_eos_are_refused():
    with pytest.raises(ValueError, match="separator's or EOS"):
        LabelTrie(LabelListIds(((10, 2),), (2,), (13,), EOS))
    with pytest.raises(ValueError, match="same tokens"):
        LabelTrie(LabelListIds(((10,), (10,)), (2,), (13,), EOS))


HATE = ["Towards law enforcement", "Specific nation(s)", "Towards AJ+", "Racist towards black", "Racist towards white", "Neutral"]


def test_a_real_tokenizers_label_lists_parse_back_whatever_the_scores(smollm2_tokenizer):
    """With SmolLM2's tokenizer and random scores over its whole vocabulary, every constrained
    response ends (EOS) and decodes to text that parses to distinct known labels, nothing unknown."""
    eos = smollm2_tokenizer.eos_token_id
    for seed in range(3):
        processor = label_trie_processor(smollm2_tokenizer, HATE)
        scores = torch.randn(4, 40, len(smollm2_tokenizer), generator=torch.Generator().manual_seed(seed))
        for row in decode(processor, scores, eos=eos):
            assert row[-1] == eos  # 40 steps hold every label once: a row always ends
            labels, counts = parse_label_list(smollm2_tokenizer.decode(row[:-1]), HATE)
            assert counts.unknown_items == 0 and counts.repeated_labels == 0
            assert labels or counts.none_responses == 1
