"""Sequence classification: one pooled vector per text, a linear head, one or many labels.

Pooling, by model kind (``pooling: auto``): a decoder's last non-padding token (the only one that
has seen the whole text through the causal mask; LS-LLaMA, PTEC), an encoder's first token (its
[CLS], what BERT-style heads are trained on); ``mean`` (over real tokens) by choice. Positions come
from the attention mask, so either padding side pools the same token.

Single-label: softmax + cross-entropy, the argmax is the prediction. Multi-label: one sigmoid per
label + binary cross-entropy, optionally weighted per class by ``pos_weight = negatives /
positives`` counted on train (PTEC, Buchner et al. 2024: rare hate-speech labels would otherwise
never be predicted); a label is predicted when its probability reaches the decision threshold,
0.5 or tuned on dev (``tune_threshold``): the value chosen on a dev evaluation travels with that
evaluation's checkpoint, so test is always decided with the dev-selected threshold.

A method with no training stage may stand in for the head: its optional ``label_scorer(train_texts,
train_targets, cache_dir)`` (``knn``) returns a function from texts to (N, L) label scores in
[0, 1], which take the place of the head's probabilities (decided by the same threshold, or argmax);
the head is then frozen and unused, and evaluation batches carry each example's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from harness.formulations.lifecycle import FormulationModule, position_ids_from_mask

POOLINGS = ("auto", "last", "mean", "first")
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 .. 0.95


@dataclass
class SequenceClassification:
    """A linear head over a pooled hidden state; single- or multi-label by the task."""

    name: str = "sequence_classification"
    """Formulation name in records."""
    pooling: str = "auto"
    """auto (decoder: last real token, encoder: first token), last, mean or first."""
    pos_weight: bool = True
    """Multi-label: weight each label's positives by negatives/positives counted on train."""
    threshold: float = 0.5
    """Multi-label decision threshold on each label's probability (when not tuned)."""
    tune_threshold: bool = True
    """Multi-label: choose the threshold on dev (grid 0.05..0.95) at every dev evaluation."""

    head = "classification"
    task_kinds = ("text_classification",)

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"formulation.pooling: {self.pooling!r} is not one of {list(POOLINGS)}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"formulation.threshold: must be in (0, 1), got {self.threshold}")

    def pooling_for(self, model_kind: str) -> str:
        if self.pooling != "auto":
            return self.pooling
        return "last" if model_kind == "decoder" else "first"

    def build(self, task, task_data, backbone, method, trainer_cfg, seed: int, cache_dir):
        return build_sequence_classification(self, task, task_data, backbone, method, trainer_cfg, seed, cache_dir)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """(B, T, H) -> (B, H) by the attention mask, whichever side the padding is on."""
    mask = attention_mask.long()
    if how == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
    positions = torch.arange(mask.shape[1], device=mask.device)
    if how == "last":
        index = (mask * positions).argmax(-1)  # the last real token
    elif how == "first":
        index = (mask * (mask.shape[1] - positions)).argmax(-1)  # the first real token
    else:
        raise ValueError(f"unknown pooling {how!r}")
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]


class SequenceClassifier(FormulationModule):
    def __init__(
        self,
        backbone: nn.Module,
        hidden_size: int,
        labels: list[str],
        multi_label: bool,
        pooling: str,
        metric,
        metric_name: str,
        method,
        examples: dict[str, list],
        pos_weight: torch.Tensor | None = None,
        threshold: float = 0.5,
        tune_threshold: bool = False,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.1,
        dropout: float = 0.1,
        label_scorer=None,
    ) -> None:
        super().__init__(backbone, method, metric_name, examples, None, weight_decay, warmup_ratio)
        self.labels, self.multi_label, self.pooling = list(labels), multi_label, pooling
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, len(labels))
        self.metric = metric
        self.register_buffer("pos_weight", pos_weight, persistent=False)
        self.threshold, self.tune_threshold = threshold, tune_threshold and multi_label
        self.label_scorer = label_scorer  # texts -> (N, L) scores in [0, 1], in place of the head
        if label_scorer is not None:
            self.head.requires_grad_(False)
        self.train()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids_from_mask(attention_mask)
        ).last_hidden_state  # (B, T, H)
        pooled = pool(hidden, attention_mask, self.pooling)  # (B, H)
        return self.head(self.dropout(pooled.to(self.head.weight.dtype)))  # (B, num_labels)

    def loss(self, batch: dict[str, Any]) -> torch.Tensor:
        logits = self(batch["input_ids"], batch["attention_mask"]).float()
        if self.multi_label:
            targets = torch.as_tensor(batch["targets"], dtype=torch.float32, device=logits.device)
            return nn.functional.binary_cross_entropy_with_logits(logits, targets, pos_weight=self.pos_weight)
        targets = torch.as_tensor(batch["targets"], dtype=torch.long, device=logits.device)
        return nn.functional.cross_entropy(logits, targets)

    def predict(self, batch: dict[str, Any]) -> list[tuple[int, Any, Any]]:
        if self.label_scorer is not None:
            probs = torch.as_tensor(self.label_scorer(list(batch["text"])), dtype=torch.float32)  # (B, L)
            return [(index, probs[row].tolist(), None) for row, index in enumerate(batch["index"].tolist())]
        logits = self(batch["input_ids"], batch["attention_mask"]).float()
        probs = logits.sigmoid() if self.multi_label else logits.softmax(-1)
        return [(index, probs[row].tolist(), None) for row, index in enumerate(batch["index"].tolist())]

    def _decide(self, probs: list[float], threshold: float) -> list[int] | int:
        if self.multi_label:
            return [int(p >= threshold) for p in probs]
        return max(range(len(probs)), key=probs.__getitem__)

    def _gold(self, split: str, index: int) -> list[int] | int:
        names = self.examples[split][index].labels
        if self.multi_label:
            return [int(label in names) for label in self.labels]
        return self.labels.index(names[0])

    def _metrics(self, split: str, predictions: dict, threshold: float) -> dict[str, Any]:
        indices = sorted(predictions)
        scores = self.metric.compute(
            predictions=[self._decide(predictions[i][0], threshold) for i in indices],
            references=[self._gold(split, i) for i in indices],
            label_names=self.labels,
        )
        return {**scores, "threshold": threshold} if self.multi_label else scores

    def score(self, split: str, predictions: dict[int, tuple[Any, Any]]) -> dict[str, Any]:
        if split == "dev" and self.tune_threshold:
            # The first best threshold on the grid (ties go to the lower one).
            candidates = [self._metrics(split, predictions, t) for t in THRESHOLD_GRID]
            best = max(candidates, key=lambda s: s[self.metric_name])
            self.threshold = best["threshold"]
            return best
        return self._metrics(split, predictions, self.threshold)

    def nothing_predicted(self, scores: dict[str, Any]) -> str | None:
        if self.multi_label and scores.get("predicted_cardinality") == 0:
            return "the model predicts no label for any dev example: the run is under-trained"
        return None

    def selection_state(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    def load_selection_state(self, state: dict[str, Any]) -> None:
        self.threshold = state.get("threshold", self.threshold)

    def row(self, split: str, index: int, prediction: Any, score: Any) -> dict[str, Any]:
        example = self.examples[split][index]
        decided = self._decide(prediction, self.threshold)
        predicted = [self.labels[i] for i, on in enumerate(decided) if on] if self.multi_label else [self.labels[decided]]
        return {
            "id": self.example_id(split, index),
            "gold": list(example.labels),
            "prediction": predicted,
            "score": [round(p, 5) for p in prediction],  # per-label probabilities, label order of the task
        }


def label_pos_weight(train, labels: list[str]) -> torch.Tensor:
    """negatives / positives per label over the training examples (positives floored at 1)."""
    positives = torch.tensor([sum(label in e.labels for e in train) for label in labels], dtype=torch.float32)
    return (len(train) - positives) / positives.clamp(min=1)


def build_sequence_classification(
    spec: SequenceClassification, task, task_data, backbone, method, trainer_cfg, seed, cache_dir=None
):
    from harness.formulations.batching import pad_batch
    from harness.formulations.datamodule import ExampleData
    from harness.metrics import metric_for

    multi_label = bool(getattr(task, "multi_label", False))
    labels = list(task_data.labels)
    scorer_for = getattr(method, "label_scorer", None)  # a training-free method in place of the head
    label_index = {label: i for i, label in enumerate(labels)}
    splits = {"train": task_data.train, "dev": task_data.dev, "test": task_data.test}
    tokenizer = backbone.tokenizer
    items, lengths = {}, {}
    for split, examples in splits.items():
        encoded = tokenizer([e.text for e in examples], truncation=True, max_length=trainer_cfg.max_length)
        items[split] = []
        for e, ids in zip(examples, encoded["input_ids"]):
            if multi_label:
                target = [int(label in e.labels) for label in labels]
            else:
                if len(e.labels) != 1:
                    raise ValueError(f"task {task.name}: single-label example {e.id!r} has labels {list(e.labels)}")
                target = label_index[e.labels[0]]
            items[split].append({"input_ids": list(ids), "targets": target})
            if scorer_for is not None:
                items[split][-1]["text"] = e.text
        lengths[split] = [len(item["input_ids"]) for item in items[split]]
    pad_id = tokenizer.pad_token_id
    label_scorer = None
    if scorer_for is not None:
        targets = [[int(label in e.labels) for label in labels] for e in task_data.train]  # (N, L) multi-hot
        label_scorer = scorer_for([e.text for e in task_data.train], targets, cache_dir)

    def collate(examples: list[dict]) -> dict:
        return pad_batch(examples, pad_id)

    data = ExampleData.for_trainer(items, lengths, collate, collate, trainer_cfg, seed)
    module = SequenceClassifier(
        backbone=backbone.model,
        hidden_size=backbone.info.hidden_size,
        labels=labels,
        multi_label=multi_label,
        pooling=spec.pooling_for(backbone.info.kind),
        metric=metric_for("multi_label" if multi_label else "single_label"),
        metric_name=task.metric,
        method=method,
        examples=splits,
        pos_weight=label_pos_weight(task_data.train, labels) if multi_label and spec.pos_weight else None,
        threshold=spec.threshold,
        tune_threshold=spec.tune_threshold,
        weight_decay=trainer_cfg.weight_decay,
        warmup_ratio=trainer_cfg.warmup_ratio,
        dropout=trainer_cfg.dropout,
        label_scorer=label_scorer,
    )
    return module, data
