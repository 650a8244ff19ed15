"""Trie-constrained decoding of a label list (`label_list`'s format; Buchner et al. 2024, after
De Cao et al.'s constrained beam search): the model can only write a list of valid labels.

A token trie holds every label's token sequence (`LabelListIds.labels`, piecewise ids with the
leading space) and the none word's; each node knows which items (labels, none) pass through it
and which item ends there. A row's state is the node it stands on, the labels it has completed
and whether it is inside a separator. The allowed next tokens:

- inside an item: the children of the node that lead to an item still allowed (a label not yet
  written; ``none`` only as the first and only item);
- after a complete label: the separator's first token (when some label is still unwritten) and
  EOS, besides children towards longer labels that share the prefix;
- after ``none``: EOS only; inside the separator: its next token; after it, the root again.

So every decoded response parses to distinct known labels, or to ``none``; an empty label set is
``none`` + EOS, never an empty response (the format never trains one). Unlike the reference code's
``Trie``, which deletes finished labels from a copy of the dictionary per row, the used labels
are a set checked against each node's items, and a separator may span several tokens.

`LabelTrieProcessor` applies it as a transformers logits processor (greedy or sampling, one
sequence per row: no beams): every other token's score becomes -inf. It learns where generation
starts from its first call (no token generated yet) and advances each row's state by the tokens
added since its last call. A row that wrote EOS is left alone (generation pads it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from harness.formulations.label_list import LabelListIds

NONE_ITEM = -1
"""The item index of the none word in the trie (labels are 0 .. L-1)."""


@dataclass(eq=False)
class _Node:
    children: dict[int, "_Node"] = field(default_factory=dict)
    items: set[int] = field(default_factory=set)  # items whose sequence passes through (or ends at) here
    ends: int | None = None  # the item whose sequence ends here


@dataclass(frozen=True)
class RowState:
    """Where one row stands: a trie node (or a position in the separator), the labels done."""

    node: _Node | None  # None while inside the separator, or when finished
    used: frozenset[int] = frozenset()
    first: bool = True  # no item completed yet (none is allowed only here)
    separator_position: int = 0  # tokens of the separator written so far (node is None)
    finished: bool = False


class LabelTrie:
    """The allowed next tokens of a label list, and the state after each token (see module doc)."""

    def __init__(self, ids: LabelListIds) -> None:
        if not ids.separator or ids.eos in ids.separator:
            raise ValueError(f"label trie: the separator's tokens {list(ids.separator)} must be some, without EOS")
        self.ids, self.root = ids, _Node()
        sequences = {index: seq for index, seq in enumerate(ids.labels)}
        sequences[NONE_ITEM] = ids.none
        forbidden = {ids.separator[0], ids.eos}
        for item, sequence in sequences.items():
            if not sequence:
                raise ValueError(f"label trie: item {item} has no tokens")
            if forbidden & set(sequence):  # a label holding the separator or EOS would be ambiguous
                raise ValueError(f"label trie: item {item}'s tokens {list(sequence)} hold the separator's or EOS")
            node = self.root
            node.items.add(item)
            for token in sequence:
                node = node.children.setdefault(token, _Node())
                node.items.add(item)
            if node.ends is not None:
                raise ValueError(f"label trie: items {node.ends} and {item} have the same tokens {list(sequence)}")
            node.ends = item
        self.num_labels = len(ids.labels)

    def start(self) -> RowState:
        return RowState(self.root)

    def _open(self, item: int, state: RowState) -> bool:
        if item == NONE_ITEM:
            return state.first
        return item not in state.used

    def allowed(self, state: RowState) -> list[int]:
        if state.finished:
            return []
        if state.node is None:  # inside the separator
            return [self.ids.separator[state.separator_position]]
        node = state.node
        tokens = [t for t, child in node.children.items() if any(self._open(i, state) for i in child.items)]
        if node.ends is not None and self._open(node.ends, state):  # a used label's end is only a prefix now
            tokens.append(self.ids.eos)
            if node.ends != NONE_ITEM and len(state.used) + 1 < self.num_labels:
                tokens.append(self.ids.separator[0])
        return tokens

    def advance(self, state: RowState, token: int) -> RowState:
        """The state after ``token``; a token not allowed raises (the processor never lets one through)."""
        if token not in self.allowed(state):
            raise ValueError(f"label trie: token {token} is not allowed here (allowed: {self.allowed(state)})")
        if token == self.ids.eos:  # allowed, so after a complete open item
            return RowState(None, state.used | {state.node.ends}, False, 0, finished=True)
        if state.node is None:  # inside the separator
            position = state.separator_position + 1
            if position == len(self.ids.separator):
                return RowState(self.root, state.used, False)
            return RowState(None, state.used, False, position)
        node = state.node
        if token in node.children and any(self._open(i, state) for i in node.children[token].items):
            return RowState(node.children[token], state.used, state.first)
        # the separator's first token after a complete label: the label is done
        used = state.used | {node.ends}
        if len(self.ids.separator) == 1:
            return RowState(self.root, used, False)
        return RowState(None, used, False, 1)


class LabelTrieProcessor:
    """A transformers logits processor that keeps every row of a batch inside the label trie."""

    def __init__(self, trie: LabelTrie) -> None:
        self.trie = trie
        self.states: list[RowState] | None = None
        self.seen = 0  # sequence length at the previous call

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.states is None:  # the first call: no generated token yet
            self.states = [self.trie.start() for _ in range(input_ids.shape[0])]
        else:
            for position in range(self.seen, input_ids.shape[1]):
                for row, token in enumerate(input_ids[:, position].tolist()):
                    if not self.states[row].finished:
                        self.states[row] = self.trie.advance(self.states[row], token)
        self.seen = input_ids.shape[1]
        constrained = torch.full_like(scores, float("-inf"))
        for row, state in enumerate(self.states):
            if state.finished:  # generation fills the row with padding; nothing to constrain
                constrained[row] = scores[row]
                continue
            allowed = torch.tensor(self.trie.allowed(state), device=scores.device)
            constrained[row, allowed] = scores[row, allowed]
        return constrained


def label_trie_processor(tokenizer, labels) -> LabelTrieProcessor:
    """A fresh processor (one per ``generate`` call: it keeps per-row state) for these labels."""
    return LabelTrieProcessor(LabelTrie(LabelListIds.build(tokenizer, labels)))
