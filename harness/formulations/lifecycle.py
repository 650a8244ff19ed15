"""What every formulation shares, written once: the training step with the method's loss term and
the non-finite-loss guard, collecting predictions during dev/test (gathered from every rank under
DDP), scoring once per evaluation, best-dev tracking (scores and predictions of the selected
evaluation), the dev history (score against training examples seen, for learning curves), optimizer
parameter groups from the method, checkpoints of trainable tensors only, RNG state (each rank's) for
exact resume, per-example prediction rows for ``predictions.jsonl`` and a sampled W&B table.

A formulation module subclasses `FormulationModule` and fills in four small methods:

- ``loss(batch) -> Tensor``: the objective on one training batch;
- ``predict(batch) -> list[(example index, prediction, score)]``: decisions for one eval batch;
- ``score(split, predictions) -> dict``: the metrics over a whole split (primary key included);
- ``row(split, index, prediction, score) -> dict``: one ``predictions.jsonl`` line (id, gold,
  prediction, score).

Extra state a formulation selects on dev (a decision threshold) goes through
``selection_state()`` / ``load_selection_state()`` so it travels with the checkpoint and test uses
the value chosen on dev.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import torch
from torch import nn

from harness.formulations.optim import adamw_with_warmup
from harness.formulations.trainer import gather_objects

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


class FormulationModule(L.LightningModule):
    def __init__(
        self,
        backbone: nn.Module,
        method,
        metric_name: str,
        examples: dict[str, list] | None = None,
        lr: float | None = None,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.1,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.method = method
        self.metric_name = metric_name
        self.examples = examples or {}  # split -> task examples, for ids and gold in prediction rows
        self.lr = method.lr if lr is None else lr
        self.weight_decay, self.warmup_ratio = weight_decay, warmup_ratio
        self._predictions: dict[int, tuple[Any, Any]] = {}
        self.scores: dict[str, dict[str, Any]] = {}  # latest full metric output per split
        self.predictions: dict[str, dict[int, tuple[Any, Any]]] = {}  # split -> index -> (prediction, score)
        # Dev scores (and predictions) of the selected (best) evaluation, so dev need not be re-run.
        self.best_dev_scores: dict[str, Any] = {}
        self.best_dev_predictions: dict[int, tuple[Any, Any]] = {}
        # Every dev evaluation inside fit: optimizer step, training examples seen so far, primary score.
        self.dev_history: list[dict[str, Any]] = []
        self.examples_seen = 0  # training examples consumed by this stage so far, resumes included
        # In-context demonstrations shown and dropped per split (`demonstration_log.DemonstrationLog`),
        # set by an LM-head formulation whose method asks for them: their counts join each split's
        # scores (so the record holds them) and the train ids shown join each prediction row.
        self.demonstration_log = None
        # Only trainable tensors go into checkpoints (see on_save_checkpoint), so loading is partial.
        self.strict_loading = False
        # from_pretrained returns modules in eval mode, and Lightning keeps each module's mode:
        # without this, dropout (LoRA's included) would be off during training.
        self.train()

    # --- what each formulation provides ------------------------------------------------------

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, batch: dict[str, Any]) -> list[tuple[int, Any, Any]]:
        raise NotImplementedError

    def score(self, split: str, predictions: dict[int, tuple[Any, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def row(self, split: str, index: int, prediction: Any, score: Any) -> dict[str, Any]:
        raise NotImplementedError

    def nothing_predicted(self, scores: dict[str, Any]) -> str | None:
        """Why these scores come from a model that predicts no positive class at all (no span, no
        label, no answer), or None: a 0.0 must never pass for a method's result unnoticed."""
        return None

    def selection_state(self) -> dict[str, Any]:
        """Values chosen on dev that test must reuse (e.g. a decision threshold)."""
        return {}

    def load_selection_state(self, state: dict[str, Any]) -> None:
        pass

    # --- training --------------------------------------------------------------------------

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.examples_seen += self._examples_in(batch)
        loss = self.loss(batch)
        size = int(batch["input_ids"].shape[0])
        term_fn = getattr(self.method, "loss_term", None)
        if term_fn is not None:  # e.g. LoFiT's L1 penalty on its scalings
            term = term_fn(self.backbone)
            if term is not None:
                self.log("train/task_loss", loss.detach(), batch_size=size)
                self.log("train/loss_term", term.detach(), batch_size=size)
                loss = loss + term
        if not torch.isfinite(loss):  # fail the run (recorded as failed) rather than train on NaN
            raise FloatingPointError(f"non-finite training loss {loss.item()} at step {self.global_step}")
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        return loss

    def _examples_in(self, batch: dict[str, Any]) -> int:
        """Examples in one training micro-batch on all ranks: a learning curve's x axis counts data,
        not optimizer steps, so runs with different batch sizes or accumulation compare. Each rank
        counts its own shard and assumes the others' are as large (no collective per step), so with
        several devices a short last batch on some rank is over-counted by at most a batch."""
        rows = batch["index"] if "index" in batch else batch["input_ids"]  # a multiple-choice row is a question
        world_size = self._trainer.world_size if self._trainer is not None else 1  # a step called outside fit
        return len(rows) * world_size

    def configure_optimizers(self):
        lr_for = getattr(self.method, "lr_for", None)
        return adamw_with_warmup(
            self, self.lr, self.weight_decay, self.warmup_ratio, self.trainer.estimated_stepping_batches, lr_for
        )

    # --- evaluation --------------------------------------------------------------------------

    def _collect(self, batch) -> None:
        self.generated_in_last_batch = 0  # tokens a generating formulation wrote (throughput)
        for index, prediction, score in self.predict(batch):
            self._predictions[index] = (prediction, score)

    def validation_step(self, batch, batch_idx):
        self._collect(batch)

    def test_step(self, batch, batch_idx):
        self._collect(batch)

    def on_validation_epoch_start(self) -> None:
        self._predictions = {}

    on_test_epoch_start = on_validation_epoch_start

    def _finish(self, split: str) -> None:
        # Under DDP each rank predicted its own share of the split (batching.py): every rank gathers
        # all of them, so every rank scores the whole split once and selects on dev alike.
        gathered = {index: value for shard in gather_objects(self._predictions) for index, value in shard.items()}
        predictions = dict(sorted(gathered.items()))
        if not predictions:
            return
        scores = self.score(split, predictions)
        if self.demonstration_log is not None:
            scores = {**scores, **self.demonstration_log.scores(split, predictions)}
        for name, value in scores.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                # The same value on every rank: the sync averages equal numbers (and silences Lightning).
                self.log(f"{split}/{name}", float(value), prog_bar=name == self.metric_name, sync_dist=True)
        self.scores[split] = scores
        self.predictions[split] = predictions
        if split == "dev" and self.trainer.state.fn == "fit":
            self.dev_history.append({
                "step": int(self.global_step), "examples_seen": self.examples_seen,
                self.metric_name: scores[self.metric_name],
            })  # fmt: skip
            best = self.best_dev_scores.get(self.metric_name, float("-inf"))
            if scores[self.metric_name] > best:  # strictly better, as ModelCheckpoint(mode="max")
                self.best_dev_scores, self.best_dev_predictions = scores, predictions

    def on_validation_epoch_end(self) -> None:
        self._finish("dev")

    def on_test_epoch_end(self) -> None:
        self._finish("test")
        if "test" in self.predictions:
            self._log_prediction_sample("test")

    # --- per-example predictions -------------------------------------------------------------

    def prediction_rows(self) -> list[dict[str, Any]]:
        """One row per example of dev (the selected evaluation) and test, for predictions.jsonl."""
        rows = []
        dev = self.best_dev_predictions or self.predictions.get("dev", {})
        for split, predictions in (("dev", dev), ("test", self.predictions.get("test", {}))):
            for index, (prediction, score) in predictions.items():
                row = self.row(split, index, prediction, score)
                if self.demonstration_log is not None:
                    row.update(self.demonstration_log.row(split, index))
                rows.append({"split": split, **row})
        return rows

    def example_id(self, split: str, index: int) -> str:
        example = self.examples.get(split, [None] * (index + 1))[index]
        return getattr(example, "id", "") or str(index)

    def _log_prediction_sample(self, split: str, size: int = PREDICTION_SAMPLE_SIZE) -> None:
        """A fixed random sample of prediction rows as a W&B table, for error analysis. Only W&B
        shows tables; other loggers are left alone."""
        from lightning.pytorch.loggers import WandbLogger

        loggers = [logger for logger in self.loggers if isinstance(logger, WandbLogger)]
        if not loggers:
            return
        predictions = self.predictions[split]
        indices = sorted(random.Random(0).sample(sorted(predictions), min(size, len(predictions))))
        rows = [self.row(split, i, *predictions[i]) for i in indices]
        columns = list(rows[0]) if rows else []
        data = [[_cell(r[c]) for c in columns] for r in rows]
        for logger in loggers:
            logger.log_table(f"{split}/predictions", columns=columns, data=data)

    # --- checkpoints -------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep only trainable tensors (a LoRA checkpoint of a 7B model is MBs, not 14 GB), plus the
        RNG state, so a resumed run draws the same dropout masks as an uninterrupted one."""
        trainable = {name for name, p in self.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}
        checkpoint["harness_rng"] = rng_state()
        by_rank = gather_objects(checkpoint["harness_rng"])  # every rank saves (only rank 0 writes)
        if len(by_rank) > 1:  # DDP: each rank resumes its own dropout stream, not rank 0's
            checkpoint["harness_rng_by_rank"] = by_rank
        checkpoint["harness_best_dev_scores"] = self.best_dev_scores
        checkpoint["harness_selection"] = self.selection_state()
        checkpoint["harness_dev_history"] = self.dev_history
        checkpoint["harness_examples_seen"] = self.examples_seen

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        by_rank = checkpoint.get("harness_rng_by_rank") or []
        own = by_rank[self.global_rank] if by_rank and self.global_rank < len(by_rank) else None
        self._pending_rng = own if own is not None else checkpoint.get("harness_rng")
        self.best_dev_scores = checkpoint.get("harness_best_dev_scores", {})
        self.dev_history = checkpoint.get("harness_dev_history", [])
        self.examples_seen = checkpoint.get("harness_examples_seen", 0)
        self.load_selection_state(checkpoint.get("harness_selection", {}))

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        if getattr(self, "_pending_rng", None) is not None:  # first batch after a resume
            restore_rng_state(self._pending_rng)
            self._pending_rng = None

    def continue_from(self, previous: "FormulationModule | None") -> None:
        """A later stage keeps what the formulation trained in the previous one (its head): only the
        backbone is the method's to change between stages."""
        if previous is None:
            return
        own = {k: v for k, v in previous.state_dict().items() if not k.startswith("backbone.")}
        mine = self.state_dict()
        self.load_state_dict({k: v for k, v in own.items() if k in mine and mine[k].shape == v.shape}, strict=False)

    def load_selected(self, checkpoint_path) -> None:
        """Load a checkpoint's trainable tensors and dev selection into this module (the weights a
        stage hands to the next one)."""
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        self.load_state_dict(checkpoint["state_dict"], strict=False)
        self.load_selection_state(checkpoint.get("harness_selection", {}))


def _cell(value: Any) -> Any:
    """W&B table cells: lists and dicts as short text."""
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
