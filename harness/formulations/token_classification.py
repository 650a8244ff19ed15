"""Token classification: a linear head on each token's last hidden state (decoder or encoder).

Used for sequence labeling (NER, chunking, POS, ABSA). The label of a word is predicted from one
of its sub-tokens, `label_token`: by default its last (which in a causal layer has seen the whole
word), or its first with a character of the word (as in LS-LLaMA and "Do Not (Always) Look
Right"); see `harness.tasks.encoding`. The backbone arrives already adapted by a method; this
module owns only the head, the loss and the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from harness.formulations.lifecycle import FormulationModule, position_ids_from_mask
from harness.tasks.encoding import word_tags_from_token_predictions


@dataclass
class TokenClassification:
    """One label per word from a linear head over the backbone's hidden states."""

    name: str = "token_classification"
    """Formulation name in records."""
    label_token: str = "last"
    """Which sub-token carries a word's label: last (the default: in a causal layer it has seen the
    whole word; chosen on CoNLL dev, results/label_token/), first (the first with a character of the
    word), or first_any (the first even if a bare word-boundary token; how older records were made)."""

    head = "classification"  # what the backbone must provide: hidden states, no LM head
    task_kinds = ("sequence_labeling",)

    def __post_init__(self) -> None:
        from harness.tasks.encoding import LABEL_TOKENS

        if self.label_token not in LABEL_TOKENS:
            raise ValueError(f"formulation.label_token: {self.label_token!r} is not one of {list(LABEL_TOKENS)}")

    def build(self, task, task_data, backbone, method, trainer_cfg, seed: int, cache_dir):
        return build_token_classification(
            task, task_data, backbone, method, trainer_cfg, seed, cache_dir, label_token=self.label_token
        )


class TokenClassifier(FormulationModule):
    def __init__(
        self,
        backbone: nn.Module,
        hidden_size: int,
        labels: list[str],
        metric,
        metric_name: str,
        method,
        examples: dict[str, list] | None = None,
        lr: float | None = None,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.1,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(backbone, method, metric_name, examples, lr, weight_decay, warmup_ratio)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, len(labels))
        self.labels = list(labels)
        self.metric = metric
        self.train()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids_from_mask(attention_mask),
        ).last_hidden_state  # (B, T, H)
        return self.head(self.dropout(hidden.to(self.head.weight.dtype)))  # (B, T, num_labels)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self(batch["input_ids"], batch["attention_mask"])
        return nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten(), ignore_index=-100)

    def predict(self, batch: dict[str, Any]) -> list[tuple[int, Any, Any]]:
        log_probs = self(batch["input_ids"], batch["attention_mask"]).float().log_softmax(-1)
        best, predicted = log_probs.max(-1)  # (B, T)
        out = []
        for row, index in enumerate(batch["index"].tolist()):
            word_index = batch["word_index"][row]
            tags = word_tags_from_token_predictions(
                predicted[row].tolist(), word_index.tolist(), int(batch["num_words"][row]), self.labels
            )
            confidence = best[row][word_index >= 0]  # the label tokens
            # Mean log-probability of the chosen tags: the sentence's confidence.
            out.append((index, tags, float(confidence.mean()) if confidence.numel() else 0.0))
        return out

    def _gold(self, split: str, index: int) -> list[str]:
        return list(self.examples[split][index].tags)

    def score(self, split: str, predictions: dict[int, tuple[Any, Any]]) -> dict[str, Any]:
        # Sanity-check or limited batches score the sentences seen, never pretend the rest.
        indices = sorted(predictions)
        return self.metric.compute(
            predictions=[predictions[i][0] for i in indices], references=[self._gold(split, i) for i in indices]
        )

    def nothing_predicted(self, scores: dict[str, Any]) -> str | None:
        if scores.get("num_predicted_spans") == 0:
            return "the model predicts no span on dev (every word O): the run is under-trained"
        return None

    def row(self, split: str, index: int, prediction: Any, score: Any) -> dict[str, Any]:
        # No words: the id finds them in the data (full CoNLL dev + test: 1.6 MB of rows, not 2.4).
        return {
            "id": self.example_id(split, index),
            "gold": self._gold(split, index),
            "prediction": prediction,
            "score": round(float(score), 6),
        }


def build_token_classification(
    task, task_data, backbone, method, trainer_cfg, seed: int, cache_dir, label_token: str = "last"
):
    """(LightningModule, LightningDataModule) for a sequence-labeling task on an adapted backbone."""
    from harness.formulations.batching import pad_batch
    from harness.formulations.datamodule import ExampleData
    from harness.metrics import metric_for
    from harness.tasks.encoding import encode_sentences

    label_to_id = {label: i for i, label in enumerate(task_data.labels)}
    splits = {"train": task_data.train, "dev": task_data.dev, "test": task_data.test}
    items, lengths = {}, {}
    for split, sentences in splits.items():
        encoded = encode_sentences(
            sentences,
            backbone.tokenizer,
            label_to_id,
            trainer_cfg.max_length,
            cache_dir=cache_dir,
            cache_key={"task": task.name, "split": split, "data_hash": task_data.data_hash, "n": len(sentences)},
            label_token=label_token,
        )
        items[split] = [{**encoded[i], "num_words": len(sentences[i].words)} for i in range(len(encoded))]
        lengths[split] = [len(item["input_ids"]) for item in items[split]]
    pad_id = backbone.tokenizer.pad_token_id
    pad_to = trainer_cfg.max_length if trainer_cfg.pad_to_max_length else None

    def collate(examples: list[dict]) -> dict:
        return pad_batch(examples, pad_id, pad_to)

    data = ExampleData.for_trainer(items, lengths, collate, collate, trainer_cfg, seed)
    module = TokenClassifier(
        backbone=backbone.model,
        hidden_size=backbone.info.hidden_size,
        labels=task_data.labels,
        metric=metric_for(task.metric),
        metric_name=task.metric,
        method=method,
        examples=splits,
        weight_decay=trainer_cfg.weight_decay,
        warmup_ratio=trainer_cfg.warmup_ratio,
        dropout=trainer_cfg.dropout,
    )
    return module, data
