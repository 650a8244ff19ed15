"""kNN over sentence embeddings: the training-free baseline of PTEC's paper (Buchner et al. 2024),
here over all-MiniLM-L6-v2 sentence embeddings, whatever the run's backbone.

Every train text is embedded once (mean-pooled, L2-normalised: `harness.formulations.demonstrations.
minilm_encoder`, the encoder of embedding-based demonstration selection). A text to classify is
embedded alike, its k nearest train texts by cosine similarity are found (ties: lower train index
first), and each label's score is the share of the neighbours' vote that carries it:

    score_j(x) = sum_n w_n y_nj / sum_n w_n,   n over the k nearest,   w_n = 1 (uniform) or max(cos_n, 0) (similarity)

(similarity weights that are all 0 fall back to uniform ones). Multi-label: label j is predicted
when score_j reaches the formulation's threshold, tuned on dev over 0.05 .. 0.95 like the other
multi-label rows (``formulation.tune_threshold``; 0.5, a weighted majority, otherwise).
Single-label tasks take the label with the highest score (ties: label order).

No training stage: the run evaluates only (the backbone is loaded, frozen and unused; the head of
`sequence_classification` is frozen and unused too, so nothing counts as trainable). The formulation
reaches the scores through the method contract's optional ``label_scorer(train_texts, train_targets,
cache_dir)``, which returns texts -> (N, L) scores in [0, 1] that stand in for the head's
probabilities. The train embeddings are computed at the first evaluation batch, so their time is
in the run's eval time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from torch import nn

from harness.methods.context import MethodContext
from harness.methods.trainable import check_formulation, freeze_except
from harness.models.info import ModelInfo

WEIGHTINGS = ("uniform", "similarity")

Encode = Callable[[list[str]], np.ndarray]


@dataclass
class KNN:
    """Labels voted by the k nearest train texts in MiniLM sentence-embedding space; no training."""

    name: str = "knn"
    """Method name in records."""
    k: int = 10
    """Neighbours that vote (the reference searched 1..100 on dev)."""
    weighting: str = "uniform"
    """uniform (each neighbour one vote) or similarity (votes weighted by cosine similarity, floored at 0)."""
    lr: float = 0.0
    """Unused (nothing trains); kept so every method has the same keys."""

    formulations = ("sequence_classification",)
    identity_at_init = True
    stages = ()  # evaluate only

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"method.k: must be an integer >= 1, got {self.k!r}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"method.weighting: {self.weighting!r} is not one of {list(WEIGHTINGS)}")

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_formulation(self.name, formulation, self.formulations)

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        return freeze_except(backbone, self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return False

    def label_scorer(self, train_texts: list[str], train_targets, cache_dir=None, encode: Encode | None = None):
        """texts -> (N, L) label scores from the k nearest train texts (see the module docstring)."""
        return NeighbourVote(train_texts, np.asarray(train_targets, dtype=np.float32), self.k, self.weighting,
                             encode, cache_dir)  # fmt: skip


class NeighbourVote:
    """The fitted kNN: train embeddings (computed at the first call) and their multi-hot labels."""

    def __init__(self, texts: list[str], targets: np.ndarray, k: int, weighting: str, encode: Encode | None,
                 cache_dir) -> None:  # fmt: skip
        if len(texts) != len(targets):
            raise ValueError(f"knn: {len(texts)} train texts but {len(targets)} targets")
        if not texts:
            raise ValueError("knn: the train split is empty")
        self.texts, self.targets, self.k, self.weighting = texts, targets, min(k, len(texts)), weighting
        self._encode, self._cache_dir, self._embeddings = encode, cache_dir, None

    def _fit(self) -> None:
        if self._encode is None:
            from harness.formulations.demonstrations import minilm_encoder

            self._encode = minilm_encoder(self._cache_dir)
        self._embeddings = self._encode(self.texts)  # (N, D), unit norm

    def __call__(self, texts: list[str]) -> np.ndarray:
        if self._embeddings is None:
            self._fit()
        similarity = self._encode(texts) @ self._embeddings.T  # (B, N) cosine
        # The k largest per row, ties to the lower train index (a stable sort of the negated scores).
        nearest = np.argsort(-similarity, axis=1, kind="stable")[:, : self.k]  # (B, k)
        if self.weighting == "similarity":
            weights = np.clip(np.take_along_axis(similarity, nearest, axis=1), 0.0, None)  # (B, k)
            weights[weights.sum(1) == 0] = 1.0
        else:
            weights = np.ones(nearest.shape, dtype=np.float32)
        votes = np.einsum("bk,bkl->bl", weights, self.targets[nearest])  # (B, L)
        return votes / weights.sum(1, keepdims=True)
