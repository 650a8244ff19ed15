"""The Lightning data module for sequence labeling: encoded splits in, padded batches out."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader

from harness.formulations.batching import LengthGroupedBatchSampler, RandomBatchSampler, pad_batch


class _Split:
    """An encoded split as a map-style dataset of dicts with the sentence's index attached."""

    def __init__(self, encoded, num_words: list[int]) -> None:
        self.encoded, self.num_words = encoded, num_words

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.encoded[index])
        item["sentence_index"] = index
        item["num_words"] = self.num_words[index]
        return item

    def lengths(self) -> list[int]:
        return [len(self.encoded[i]["input_ids"]) for i in range(len(self.encoded))]


class SequenceLabelingData(L.LightningDataModule):
    def __init__(
        self,
        encoded: dict,  # split name -> EncodedSplit
        num_words: dict[str, list[int]],
        pad_token_id: int,
        batch_size: int,
        eval_batch_size: int,
        seed: int,
        length_grouping: bool = True,
        pad_to: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.splits = {name: _Split(encoded[name], num_words[name]) for name in encoded}
        self.pad_token_id, self.pad_to = pad_token_id, pad_to
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.seed, self.length_grouping, self.num_workers = seed, length_grouping, num_workers

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
            num_replicas=world if train else 1,
            rank=rank if train else 0,
        )
        if train:
            sampler.batches_already_done = self._batches_done_before_resume
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=lambda examples: pad_batch(examples, self.pad_token_id, self.pad_to),
            num_workers=self.num_workers,
        )

    def _batches_done_before_resume(self) -> int:
        """Batches of the current epoch trained before the checkpoint we resumed from.

        Asked when the epoch's iteration starts; Lightning has restored its loop counters by then
        (not when the loader was built, which it does early to count steps for the scheduler)."""
        if not self._trainer_attached() or not self.trainer.fit_loop.restarting:
            return 0
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.completed

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
