"""The Lightning data module every formulation uses: encoded splits in, padded batches out.

A split is a list of feature dicts (what the formulation's encoder produced for each example);
each gets its position in the split as ``index`` so predictions map back to examples. Batches
are length-grouped for training and sorted by length for evaluation (see `batching`), using a
per-item length the formulation gives (tokens in the row, or in all of a question's choices).
Under DDP both are sharded by rank: training by whole batches, evaluation by example (each on
exactly one rank; `lifecycle.FormulationModule` gathers the predictions before scoring).
"""

from __future__ import annotations

from typing import Callable, Sequence

import lightning as L
from torch.utils.data import DataLoader

from harness.formulations.batching import LengthGroupedBatchSampler, RandomBatchSampler

Collate = Callable[[list[dict]], dict]


class _Split:
    def __init__(self, items: Sequence[dict], lengths: Sequence[int]) -> None:
        self.items, self._lengths = items, list(lengths)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.items[index])
        item["index"] = index
        return item

    def lengths(self) -> list[int]:
        return self._lengths


class ExampleData(L.LightningDataModule):
    def __init__(
        self,
        splits: dict[str, Sequence[dict]],  # split name -> encoded items
        lengths: dict[str, Sequence[int]],
        train_collate: Collate,
        eval_collate: Collate,
        batch_size: int,
        eval_batch_size: int,
        seed: int,
        length_grouping: bool = True,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.splits = {name: _Split(items, lengths[name]) for name, items in splits.items()}
        self.train_collate, self.eval_collate = train_collate, eval_collate
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.seed, self.length_grouping, self.num_workers = seed, length_grouping, num_workers

    @classmethod
    def for_trainer(cls, splits, lengths, train_collate: Collate, eval_collate: Collate, trainer_cfg, seed: int):
        """Batch sizes, length grouping and workers from the trainer config."""
        return cls(
            splits, lengths, train_collate, eval_collate,
            batch_size=trainer_cfg.batch_size, eval_batch_size=trainer_cfg.eval_batch_size, seed=seed,
            length_grouping=trainer_cfg.length_grouping, num_workers=trainer_cfg.num_workers,
        )  # fmt: skip

    def _loader(self, split: str, train: bool) -> DataLoader:
        dataset = self.splits[split]
        sampler_class = LengthGroupedBatchSampler if self.length_grouping else RandomBatchSampler
        world = self.trainer.world_size if self._trainer_attached() else 1
        rank = self.trainer.global_rank if self._trainer_attached() else 0
        sampler = sampler_class(
            dataset.lengths(),
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            num_replicas=world,  # training: whole batches per rank; evaluation: each example on one rank
            rank=rank,
        )
        if train:
            sampler.batches_already_done = self._batches_done_before_resume
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=self.train_collate if train else self.eval_collate,
            num_workers=self.num_workers,
        )

    def _batches_done_before_resume(self) -> int:
        """Batches of the current epoch trained before the checkpoint we resumed from.

        Asked when the epoch's iteration starts; Lightning has restored its loop counters by then
        (not when the loader was built, which it does early to count steps for the scheduler)."""
        if not self._trainer_attached() or not self.trainer.fit_loop.restarting:
            return 0
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.completed

    def optimizer_steps_per_epoch(self, world_size: int, accumulate_grad_batches: int) -> int:
        """Optimizer steps one epoch of the training split makes (as the batch sampler shards it)."""
        batches = -(-len(self.splits["train"]) // self.batch_size)
        per_rank = batches // world_size if world_size > 1 else batches
        return -(-per_rank // accumulate_grad_batches)  # Lightning steps on an epoch's last partial group too

    def _trainer_attached(self) -> bool:
        return self.trainer is not None

    def train_dataloader_standalone(self) -> DataLoader:
        """The training loader outside a Trainer's data-module hooks (benchmarks)."""
        return self._loader("train", train=True)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("dev", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)
