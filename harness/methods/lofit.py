"""LoFiT, localized fine-tuning (Yin et al., NeurIPS 2024, arXiv 2406.01563): learn which attention
heads matter for a task, then train offset vectors on those heads only.

For head j of layer l, its output h (before the output projection) becomes (1 + A_lj) * h + v_lj
(`harness.models.head_patch`). Two stages, one run:

1. ``select_heads``: only the scalings A train (every head of every layer), with the L1 penalty
   ``l1_lambda * sum |A|`` added to the task loss (the method's ``loss_term``, logged as
   ``train/loss_term``). The heads are ranked by ||A_lj||_2 of the dev-selected weights and the
   top K kept, ties broken by (layer, head) so the choice is exact.
2. ``train_offsets``: A is discarded; only the offsets v of the K heads train, with their own
   learning rate (``lr``; stage 1 uses ``select_lr``). No penalty.

The selected heads are written with the run (``artefacts/lofit_heads.json``: rank, layer, head,
score, and every head's score for the report's heat map). Another run reuses them with
``heads_from`` (a heads file or a run directory: transfer across tasks), skipping stage 1; the
ablation ``random_heads`` draws K heads uniformly instead (seeded by the run's seed).

Defaults follow the reference code (github.com/fc2869/lo-fit, `lofit_trainer.py`): A and v drawn
from N(0, 1e-3) ("init_std"), K = 10% of the heads when not given, the L1 sum over every
scaling. The paper's TruthfulQA setting for Llama-2-7B is K = 32, select_lr 5e-3, l1_lambda 5e-4,
lr 1e-2. Written by hand: peft has no LoFiT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.methods.context import MethodContext
from harness.methods.trainable import check_formulation, freeze_except
from harness.models import head_patch
from harness.models.info import ModelInfo

SELECT, TRAIN = "select_heads", "train_offsets"
HEADS_FILE = "lofit_heads.json"


@dataclass(frozen=True)
class Head:
    layer: int
    head: int
    score: float | None = None


def top_k_heads(scores: list[list[float]], k: int) -> list[Head]:
    """The k highest-scoring heads, best first; equal scores in (layer, head) order."""
    ranked = sorted(
        (Head(layer, head, score) for layer, row in enumerate(scores) for head, score in enumerate(row)),
        key=lambda h: (-h.score, h.layer, h.head),
    )
    return ranked[:k]


def heads_file(path: str | Path) -> Path:
    """A heads artefact given as the file itself or as the run directory that holds it."""
    path = Path(path)
    if path.is_dir():
        path = path / "artefacts" / HEADS_FILE
    return path


def read_heads(path: str | Path) -> dict:
    """A heads artefact, checked: a clear error names the file and what is wrong."""
    path = heads_file(path)
    if not path.is_file():
        raise ValueError(f"method.heads_from: {path} does not exist (give a {HEADS_FILE} or a LoFiT run directory)")
    try:
        payload = json.loads(path.read_text())
        heads = [Head(int(h["layer"]), int(h["head"]), h.get("score")) for h in payload["heads"]]
        shape = (int(payload["num_layers"]), int(payload["num_heads"]))
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"method.heads_from: {path} is not a LoFiT heads file ({type(error).__name__}: {error})") from None
    return {"path": str(path), "heads": heads, "shape": shape}


@dataclass
class LoFiT:
    """Scalings A on every head select the heads (stage 1); offsets v on the top K train (stage 2)."""

    name: str = "lofit"
    """Method name in records."""
    heads: Any = None  # Any: the config schema would turn a count (int) into a float
    """K: a count (an integer >= 1) or a fraction of all heads (a float in (0, 1)); null = 10%."""
    l1_lambda: float = 5e-4
    """Weight of the L1 penalty on the scalings in stage 1 (sum over every entry of A)."""
    select_lr: float = 5e-3
    """Learning rate of stage 1 (the scalings A)."""
    lr: float = 1e-2
    """Learning rate of stage 2 (the offsets v)."""
    init_std: float = 1e-3
    """A and v start from N(0, init_std); 0 starts them at zero (the patch is then the identity)."""
    heads_from: str | None = None
    """A heads file (artefacts/lofit_heads.json) or a LoFiT run directory: train offsets on its top K
    heads and skip head selection."""
    random_heads: bool = False
    """Ablation: K heads drawn uniformly at random (skips head selection)."""

    formulations = ("token_classification", "sequence_classification", "generation", "multiple_choice")

    def __post_init__(self) -> None:
        if self.heads is not None and not (
            (type(self.heads) is int and self.heads >= 1) or (type(self.heads) is float and 0 < self.heads < 1)
        ):
            raise ValueError(f"method.heads: a count >= 1 or a fraction in (0, 1), got {self.heads!r}")
        for key in ("l1_lambda", "init_std"):
            if getattr(self, key) < 0:
                raise ValueError(f"method.{key}: must be >= 0, got {getattr(self, key)}")
        if self.heads_from is not None and self.random_heads:
            raise ValueError("method.heads_from and method.random_heads: choose one way to pick the heads")
        self._stage = SELECT if self.learns_heads else TRAIN
        self._source: dict | None = None

    @property
    def learns_heads(self) -> bool:
        return self.heads_from is None and not self.random_heads

    @property
    def stages(self) -> tuple[str, ...]:
        return (SELECT, TRAIN) if self.learns_heads else (TRAIN,)

    @property
    def identity_at_init(self) -> bool:
        return self.init_std == 0

    def head_count(self, info: ModelInfo) -> int:
        total = info.num_layers * info.num_heads
        if self.heads is None:
            return max(1, round(0.1 * total))
        if isinstance(self.heads, float):
            return max(1, round(self.heads * total))
        if self.heads > total:
            raise ValueError(f"method.heads: {self.heads} heads asked, model {info.name} has {total}")
        return self.heads

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_formulation(self.name, formulation, self.formulations)
        k = self.head_count(info)
        if self.heads_from is not None:
            source = read_heads(self.heads_from)
            if source["shape"] != (info.num_layers, info.num_heads):
                raise ValueError(
                    f"method.heads_from: {source['path']} was selected on a model with {source['shape'][0]} layers x "
                    f"{source['shape'][1]} heads; model {info.name} has {info.num_layers} x {info.num_heads}"
                )
            if len(source["heads"]) < k:
                raise ValueError(f"method.heads: {k} heads asked, {source['path']} holds {len(source['heads'])}")
            self._source = source

    # --- stages -------------------------------------------------------------------------------

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        info = context.info
        self._stage = context.stage
        if context.stage == SELECT:
            head_patch.install(backbone, info.num_heads, info.head_dim, True, {}, self.init_std)
        elif context.stage == TRAIN:
            chosen, scores, selection = self._choose(backbone, info)
            offsets: dict[int, list[int]] = {}
            for head in chosen:
                offsets.setdefault(head.layer, []).append(head.head)
            head_patch.install(backbone, info.num_heads, info.head_dim, False, offsets, self.init_std)
            if context.artefact_dir is not None:
                write_heads(context.artefact_dir / HEADS_FILE, chosen, scores, selection, info)
        else:
            raise ValueError(f"method=lofit: unknown stage {context.stage!r}; stages are {list(self.stages)}")
        return freeze_except(backbone, self.is_trainable)

    def _choose(self, backbone: nn.Module, info: ModelInfo) -> tuple[list[Head], list[list[float]] | None, str]:
        k = self.head_count(info)
        if self.heads_from is not None:
            source = self._source or read_heads(self.heads_from)
            return source["heads"][:k], None, f"from {source['path']}"
        if self.random_heads:
            drawn = torch.randperm(info.num_layers * info.num_heads)[:k].tolist()  # the run's seeded RNG
            return [Head(i // info.num_heads, i % info.num_heads) for i in drawn], None, "random"
        scores = head_patch.scale_norms(backbone)  # the dev-selected scalings of stage 1
        return top_k_heads(scores, k), scores, "learned"

    def is_trainable(self, parameter_name: str) -> bool:
        part = "scale" if self._stage == SELECT else "offset"
        return parameter_name.endswith(f"{head_patch.PATCH_NAME}.{part}")

    def loss_term(self, backbone: nn.Module) -> torch.Tensor | None:
        """lambda * sum |A| in the head-selection stage; nothing in the offsets stage."""
        if self._stage != SELECT or self.l1_lambda == 0:
            return None
        scales = [p.scale for p in head_patch.patches(backbone).values() if p.scale is not None]
        return self.l1_lambda * torch.stack([s.abs().sum() for s in scales]).sum()

    def lr_for(self, parameter_name: str) -> float | None:
        if parameter_name.endswith(f"{head_patch.PATCH_NAME}.scale"):
            return self.select_lr
        return None


def write_heads(path: Path, chosen: list[Head], scores: list[list[float]] | None, selection: str, info: ModelInfo) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "selection": selection, "num_layers": info.num_layers, "num_heads": info.num_heads, "k": len(chosen),
        "heads": [{"rank": rank, "layer": h.layer, "head": h.head, "score": h.score} for rank, h in enumerate(chosen)],
        "scores": scores,  # every head's ||A||, layer-major (learned selection only)
    }  # fmt: skip
    path.write_text(json.dumps(payload, indent=1) + "\n")
