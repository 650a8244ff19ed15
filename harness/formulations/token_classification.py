"""Token classification: a linear head on each token's last hidden state (decoder or encoder).

Used for sequence labeling (NER, chunking, POS, ABSA). The label of a word is predicted from its
first sub-token, as in LS-LLaMA and "Do Not (Always) Look Right". The backbone arrives already
adapted by a method; this module owns only the head, the loss and the evaluation.
"""

from __future__ import annotations

from typing import Any

import random

import lightning as L
import torch
from torch import nn

from harness.formulations.optim import adamw_with_warmup
from harness.tasks.encoding import word_tags_from_token_predictions


PREDICTION_SAMPLE_SIZE = 100


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over real tokens only, so left padding does not shift RoPE positions."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class TokenClassifier(L.LightningModule):
    def __init__(
        self,
        backbone: nn.Module,
        hidden_size: int,
        labels: list[str],
        metric,
        metric_name: str,
        references: dict[str, list[list[str]]],
        lr: float,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.1,
        dropout: float = 0.1,
        sentence_words: dict[str, dict[int, list[str]]] | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, len(labels))
        self.labels = list(labels)
        self.metric = metric
        self.metric_name = metric_name
        self.references = references  # split -> gold word tags per sentence
        self.sentence_words = sentence_words or {}  # split -> words per sentence (for the W&B table)
        self.lr, self.weight_decay, self.warmup_ratio = lr, weight_decay, warmup_ratio
        self._predictions: dict[int, list[str]] = {}
        self.scores: dict[str, dict[str, Any]] = {}  # latest full metric output per split
        # Dev scores of the selected (best) checkpoint, so dev need not be re-run after fit.
        self.best_dev_scores: dict[str, Any] = {}
        # Only trainable tensors go into checkpoints (see on_save_checkpoint), so loading is partial.
        self.strict_loading = False
        # from_pretrained returns modules in eval mode, and Lightning keeps each module's mode:
        # without this, dropout (LoRA's included) would be off during training.
        self.train()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids_from_mask(attention_mask),
        ).last_hidden_state  # (B, T, H)
        return self.head(self.dropout(hidden.to(self.head.weight.dtype)))  # (B, T, num_labels)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self(batch["input_ids"], batch["attention_mask"])
        loss = nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten(), ignore_index=-100)
        if not torch.isfinite(loss):  # fail the run (recorded as failed) rather than train on NaN
            raise FloatingPointError(f"non-finite training loss {loss.item()} at step {self.global_step}")
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    # Evaluation: collect word-level tags per sentence, score once per epoch.
    def _predict_batch(self, batch: dict[str, torch.Tensor]) -> None:
        predicted = self(batch["input_ids"], batch["attention_mask"]).argmax(-1).cpu()
        for row, sentence in enumerate(batch["sentence_index"].tolist()):
            self._predictions[sentence] = word_tags_from_token_predictions(
                predicted[row].tolist(),
                batch["word_index"][row].tolist(),
                batch["num_words"][row].item(),
                self.labels,
            )

    def validation_step(self, batch, batch_idx):
        self._predict_batch(batch)

    def test_step(self, batch, batch_idx):
        self._predict_batch(batch)

    def on_validation_epoch_start(self) -> None:
        self._predictions = {}

    on_test_epoch_start = on_validation_epoch_start

    def _score(self, split: str) -> dict[str, Any]:
        gold = self.references[split]
        if len(self._predictions) != len(gold):
            # Sanity-check or limited batches: score the sentences seen, never pretend the rest.
            indices = sorted(self._predictions)
        else:
            indices = range(len(gold))
        scores = self.metric.compute(
            predictions=[self._predictions[i] for i in indices], references=[list(gold[i]) for i in indices]
        )
        flat = {k: float(v) for k, v in scores.items() if isinstance(v, (int, float))}
        for name, value in flat.items():
            self.log(f"{split}/{name}", value, prog_bar=name == self.metric_name)
        self.scores[split] = scores
        if split == "dev" and self.trainer.state.fn == "fit":
            best = self.best_dev_scores.get(self.metric_name, float("-inf"))
            if scores[self.metric_name] > best:  # strictly better, as ModelCheckpoint(mode="max")
                self.best_dev_scores = scores
        return scores

    def on_validation_epoch_end(self) -> None:
        if self._predictions:
            self._score("dev")

    def on_test_epoch_end(self) -> None:
        if self._predictions:
            self._score("test")
            self._log_prediction_sample("test")

    def _log_prediction_sample(self, split: str, size: int = PREDICTION_SAMPLE_SIZE) -> None:
        """A fixed random sample of sentences with gold and predicted tags, as a W&B table, for
        error analysis. Only W&B shows tables; other loggers are left alone."""
        from lightning.pytorch.loggers import WandbLogger

        loggers = [logger for logger in self.loggers if isinstance(logger, WandbLogger)]
        if not loggers:
            return
        indices = sorted(self._predictions)
        sample = sorted(random.Random(0).sample(indices, min(size, len(indices))))
        gold = self.references[split]
        rows = []
        for i in sample:
            words = self.sentence_words.get(split, {}).get(i, [])
            predicted = self._predictions[i]
            rows.append([i, " ".join(words), " ".join(gold[i]), " ".join(predicted), list(gold[i]) == predicted])
        for logger in loggers:
            logger.log_table(f"{split}/predictions", columns=["sentence", "words", "gold", "predicted", "exact"], data=rows)

    def configure_optimizers(self):
        return adamw_with_warmup(
            self, self.lr, self.weight_decay, self.warmup_ratio, self.trainer.estimated_stepping_batches
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep only trainable tensors (a LoRA checkpoint of a 7B model is MBs, not 14 GB), plus the
        RNG state, so a resumed run draws the same dropout masks as an uninterrupted one."""
        trainable = {name for name, p in self.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}
        checkpoint["harness_rng"] = rng_state()
        checkpoint["harness_best_dev_scores"] = self.best_dev_scores

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._pending_rng = checkpoint.get("harness_rng")
        self.best_dev_scores = checkpoint.get("harness_best_dev_scores", {})

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        if getattr(self, "_pending_rng", None) is not None:  # first batch after a resume
            restore_rng_state(self._pending_rng)
            self._pending_rng = None


def build_token_classification(task, task_data, backbone, method, trainer_cfg, seed: int, cache_dir):
    """(LightningModule, LightningDataModule) for a sequence-labeling task on an adapted backbone."""
    from harness.formulations.datamodule import SequenceLabelingData
    from harness.metrics import metric_for
    from harness.tasks.encoding import encode_sentences

    label_to_id = {label: i for i, label in enumerate(task_data.labels)}
    splits = {"train": task_data.train, "dev": task_data.dev, "test": task_data.test}
    encoded = {
        split: encode_sentences(
            sentences,
            backbone.tokenizer,
            label_to_id,
            trainer_cfg.max_length,
            cache_dir=cache_dir,
            cache_key={"task": task.name, "split": split, "data_hash": task_data.data_hash, "n": len(sentences)},
        )
        for split, sentences in splits.items()
    }
    data = SequenceLabelingData(
        encoded,
        num_words={split: [len(s.words) for s in sentences] for split, sentences in splits.items()},
        pad_token_id=backbone.tokenizer.pad_token_id,
        batch_size=trainer_cfg.batch_size,
        eval_batch_size=trainer_cfg.eval_batch_size,
        seed=seed,
        length_grouping=trainer_cfg.length_grouping,
        pad_to=trainer_cfg.max_length if trainer_cfg.pad_to_max_length else None,
        num_workers=trainer_cfg.num_workers,
    )
    module = TokenClassifier(
        backbone=backbone.model,
        hidden_size=backbone.info.hidden_size,
        labels=task_data.labels,
        metric=metric_for(task.metric),
        metric_name=task.metric,
        references={"dev": [list(s.tags) for s in task_data.dev], "test": [list(s.tags) for s in task_data.test]},
        sentence_words={"test": {i: list(s.words) for i, s in enumerate(task_data.test)}},
        lr=method.lr,
        weight_decay=trainer_cfg.weight_decay,
        warmup_ratio=trainer_cfg.warmup_ratio,
        dropout=trainer_cfg.dropout,
    )
    return module, data
