"""Constrained decoding for `span_generation`: every span the model writes is a word sequence of
its query sentence, and every type one of the task's.

The constraint is on the text, not on one tokenization of it: a row's generated text must stay a
prefix of some valid response (`span_response`'s format) for that row's sentence. That language
is read by a small nondeterministic automaton over characters (`SentenceAutomaton`): the response
prefix, then ``none`` or items ``<words>:<type>`` joined by ``"; "``, where ``<words>`` is any
contiguous run of the sentence's words joined by single spaces; after a complete answer, a line
break (or EOS) ends it. At each step the allowed tokens are found by walking a character trie of
the vocabulary (`TokenVocabulary`, built once per tokenizer) only along characters the automaton
can read next, so a step costs in proportion to the allowed tokens, never to the vocabulary.

Per-example constraints: the formulation builds one `SpanConstraint` per evaluation batch from
the batch's sentences (each eval batch carries its rows' words), and passes it to ``generate``
with the method's and task's processors. It learns where generation starts from its first call
(no token generated yet), keeps each row's automaton state and advances it by the newest token.

Every other token's score becomes -inf: greedy decoding picks the best allowed token, and any
sampling would draw among allowed tokens only. A word containing a character that no single token
spells, or a ``;`` (which the parser splits at), is never offered as part of a span, so a row can
always finish what it began. Spans may still repeat or overlap; the parser counts those.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from harness.formulations.span_response import ITEM_SEPARATOR, NONE_RESPONSE, TYPE_SEPARATOR

State = frozenset
DONE = None  # a row that ended (EOS or a line break) or left the language: no longer constrained


class _Node:
    __slots__ = ("children", "ids")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.ids: list[int] = []


class TokenVocabulary:
    """Each token's text (as it reads inside a sequence), a character trie of them, the tokens that
    hold a line break (generation stops on them) and the characters single tokens spell."""

    def __init__(self, tokenizer) -> None:
        self.eos_token_id = tokenizer.eos_token_id
        special = set(tokenizer.all_special_ids)
        # After an anchor token, so that tokenizers that drop a leading space at the start of a
        # text (SentencePiece) still show it; a token holding part of a UTF-8 character reads as U+FFFD.
        anchor = tokenizer("a", add_special_tokens=False)["input_ids"][-1]
        size = len(tokenizer)
        texts = tokenizer.batch_decode([[anchor, i] for i in range(size)], clean_up_tokenization_spaces=False)
        lead = len(tokenizer.decode([anchor], clean_up_tokenization_spaces=False))
        self.texts = ["" if i in special or "\ufffd" in t else t[lead:] for i, t in enumerate(texts)]
        self.root = _Node()
        for token, text in enumerate(self.texts):
            if not text:
                continue
            node = self.root
            for char in text:
                node = node.children.setdefault(char, _Node())
            node.ids.append(token)
        self.newline_ids = [i for i, text in enumerate(self.texts) if "\n" in text]
        self.single_chars = {text for text in self.texts if len(text) == 1}
        self._subtrees: dict[int, list[int]] = {}

    def subtree_ids(self, node: _Node) -> list[int]:
        """Every token whose text continues through ``node`` (memoised: line-break subtrees recur)."""
        key = id(node)
        if key not in self._subtrees:
            ids, stack = [], [node]
            while stack:
                current = stack.pop()
                ids.extend(current.ids)
                stack.extend(current.children.values())
            self._subtrees[key] = ids
        return self._subtrees[key]


class SentenceAutomaton:
    """The responses valid for one sentence, read character by character.

    States: ("lead", k) k characters of the response prefix read; ("none", k) of the none answer;
    ("word", j, c) c characters of word j read, inside a span; ("type", s) type text s read;
    ("sep", k) k characters of the item separator read."""

    def __init__(
        self, words: Sequence[str], types: Sequence[str], lead: str, spellable: set[str], none: str = NONE_RESPONSE
    ) -> None:
        self.words, self.types, self.lead, self.none = list(words), tuple(types), lead, none
        self.type_prefixes = {t[:i] for t in self.types for i in range(len(t) + 1)}
        self.usable = [bool(w) and ";" not in w and all(ch in spellable for ch in w) for w in self.words]
        self.item_start = frozenset(("word", j, 0) for j, ok in enumerate(self.usable) if ok)
        self.start = self._closure(("lead", 0))
        self._steps: dict[tuple[State, str], State] = {}

    def _closure(self, state: tuple) -> State:
        """A state that completes a literal moves on to what follows it."""
        if state == ("lead", len(self.lead)):
            return self.item_start | {("none", 0)}
        if state == ("sep", len(ITEM_SEPARATOR)):
            return self.item_start
        return frozenset([state])

    def accepting(self, states: State) -> bool:
        return any(
            (s[0] == "none" and s[1] == len(self.none)) or (s[0] == "type" and s[1] in self.types) for s in states
        )

    def next_chars(self, states: State) -> set[str]:
        chars = set()
        for state in states:
            kind = state[0]
            if kind == "lead":
                chars.add(self.lead[state[1]])
            elif kind == "none" and state[1] < len(self.none):
                chars.add(self.none[state[1]])
            elif kind == "word":
                word = self.words[state[1]]
                chars |= {word[state[2]]} if state[2] < len(word) else {" ", TYPE_SEPARATOR}
            elif kind == "type":
                chars |= {t[len(state[1])] for t in self.types if len(t) > len(state[1]) and t.startswith(state[1])}
                if state[1] in self.types:
                    chars.add(ITEM_SEPARATOR[0])
            elif kind == "sep":
                chars.add(ITEM_SEPARATOR[state[1]])
        return chars

    def step(self, states: State, char: str) -> State:
        key = (states, char)
        if key not in self._steps:
            self._steps[key] = frozenset().union(*(self._step_one(s, char) for s in states)) if states else frozenset()
        return self._steps[key]

    def _step_one(self, state: tuple, char: str) -> State:
        kind = state[0]
        if kind in ("lead", "none", "sep"):
            literal = {"lead": self.lead, "none": self.none, "sep": ITEM_SEPARATOR}[kind]
            k = state[1]
            return self._closure((kind, k + 1)) if k < len(literal) and literal[k] == char else frozenset()
        if kind == "word":
            _, j, c = state
            word = self.words[j]
            if c < len(word):
                return frozenset([("word", j, c + 1)]) if word[c] == char else frozenset()
            if char == " " and j + 1 < len(self.words) and self.usable[j + 1]:
                return frozenset([("word", j + 1, 0)])
            return frozenset([("type", "")]) if char == TYPE_SEPARATOR else frozenset()
        text = state[1]  # type
        after = frozenset([("type", text + char)]) if text + char in self.type_prefixes else frozenset()
        if text in self.types and char == ITEM_SEPARATOR[0]:
            after |= {("sep", 1)}
        return after

    def read(self, states: State, text: str) -> State:
        for char in text:
            states = self.step(states, char)
            if not states:
                break
        return states


class SpanConstraint:
    """A transformers logits processor: row i of the batch may only write a valid response for
    ``sentences[i]`` (see the module docstring)."""

    def __init__(
        self, vocabulary: TokenVocabulary, sentences: Sequence[Sequence[str]], types: Sequence[str],
        lead: str = " ", none: str = NONE_RESPONSE,
    ) -> None:  # fmt: skip
        self.vocabulary = vocabulary
        self.automata = [SentenceAutomaton(w, types, lead, vocabulary.single_chars, none) for w in sentences]
        self.states: list[State | None] = [a.start for a in self.automata]
        self.width: int | None = None  # prompt width, learnt on the first call
        self.read_upto = 0
        self.stops = {vocabulary.eos_token_id, *vocabulary.newline_ids}
        self._allowed: list[dict[State, list[int]]] = [{} for _ in sentences]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.width is None:
            self.width = self.read_upto = input_ids.shape[1]
        for position in range(self.read_upto, input_ids.shape[1]):  # the newest token(s) of each row
            for row, token in enumerate(input_ids[:, position].tolist()):
                self._advance(row, token)
        self.read_upto = input_ids.shape[1]
        mask = torch.full_like(scores, float("-inf"))
        for row, states in enumerate(self.states):
            if states is DONE:
                mask[row] = 0.0
            else:
                mask[row, self.allowed(row, states)] = 0.0
        return scores + mask

    def _advance(self, row: int, token: int) -> None:
        states = self.states[row]
        if states is DONE:
            return
        if token in self.stops:
            self.states[row] = DONE
            return
        after = self.automata[row].read(states, self.vocabulary.texts[token])
        self.states[row] = after if after else DONE  # another processor forced a token: let the row be

    def allowed(self, row: int, states: State) -> list[int]:
        """Token ids that keep row ``row`` inside its language from ``states`` (EOS when it may end)."""
        cache = self._allowed[row]
        if states not in cache:
            automaton = self.automata[row]
            ids: list[int] = []
            stack = [(self.vocabulary.root, states)]
            while stack:
                node, current = stack.pop()
                ids.extend(node.ids)
                if automaton.accepting(current) and (child := node.children.get("\n")) is not None:
                    ids.extend(self.vocabulary.subtree_ids(child))  # the line break ends the answer
                for char in automaton.next_chars(current):
                    if (child := node.children.get(char)) is not None and (after := automaton.step(current, char)):
                        stack.append((child, after))
            if automaton.accepting(states):
                ids.append(self.vocabulary.eos_token_id)
            cache[states] = ids or [self.vocabulary.eos_token_id]
        return cache[states]
