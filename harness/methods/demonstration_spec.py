"""What a method asks of the LM-head formulations when it wants in-context demonstrations: how many
per prompt and how they are chosen. The policy itself (drawing, rendering, the length budget) is
the formulations' (`harness.formulations.demonstrations`); a method only declares this spec through
its optional ``demonstrations`` attribute (see the contract in `harness.methods`).
"""

from __future__ import annotations

from dataclasses import dataclass

SELECTIONS = ("random", "bm25", "embedding", "fixed")
"""random: a seeded draw per query; bm25: lexical similarity to the query (BM25 over the prompt
texts); embedding: cosine similarity of MiniLM sentence embeddings (mean-pooled) of the prompt
texts; fixed: the same seeded draw before every query (prompts share their demonstrations)."""


@dataclass(frozen=True)
class DemonstrationSpec:
    """k demonstrations per prompt, drawn from the train split by ``selection``."""

    k: int = 4
    """Demonstrations per prompt (0: none, the zero-shot prompt exactly)."""
    selection: str = "random"
    """How they are chosen: random, bm25, embedding or fixed."""

    def __post_init__(self) -> None:
        check_demonstrations(self.k, self.selection)


def check_demonstrations(k: object, selection: object, prefix: str = "method") -> None:
    """Impossible values fail naming the config key (``method.k``, ``method.selection``)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"{prefix}.k: the number of demonstrations must be an integer >= 0, got {k!r}")
    if selection not in SELECTIONS:
        raise ValueError(f"{prefix}.selection: {selection!r} is not one of {list(SELECTIONS)}")
