"""Batches for variable-length sequences: length-grouped sampling and dynamic padding.

Sorting whole datasets by length makes batches non-random; the usual compromise (as in
transformers' LengthGroupedSampler) shuffles, sorts within mega-batches of `batch_size * 50`,
then shuffles the batches. It is re-implemented here because transformers' sampler yields single
indices for its Trainer, while Lightning wants a batch sampler with per-epoch seeding and rank
sharding.

Sharding over several processes (DDP) differs by use. Training deals whole batches round-robin and
drops the ragged tail, so every rank makes the same number of steps. Evaluation deals examples
(every ``num_replicas``-th of the length-sorted order, so each rank gets as many long ones as short
ones) and drops nothing: each example is evaluated on exactly one rank, with no padding repeats
(unlike torch's DistributedSampler); the formulation module gathers the predictions.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import torch

MEGA_BATCH_FACTOR = 50


class LengthGroupedBatchSampler(torch.utils.data.Sampler[list[int]]):
    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.num_replicas, self.rank = num_replicas, rank
        # Asked at the start of each pass: how many batches of this epoch were already trained
        # before an interruption (0 normally). Resuming replays the same order minus those.
        self.batches_already_done: Callable[[], int] = lambda: 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:  # evaluation: sorted by length, deterministic
            return self._eval_batches(sorted(range(n), key=lambda i: self.lengths[i], reverse=True))
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(n, generator=generator).tolist()
        mega = self.batch_size * MEGA_BATCH_FACTOR
        batches = []
        for start in range(0, n, mega):
            chunk = sorted(order[start : start + mega], key=lambda i: self.lengths[i], reverse=True)
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        shuffled = torch.randperm(len(batches), generator=generator).tolist()
        return [batches[i] for i in shuffled]

    def _eval_batches(self, order: list[int]) -> list[list[int]]:
        """Evaluation batches of this rank's examples: every num_replicas-th of `order`, all kept."""
        if self.num_replicas > 1:
            if 0 < len(order) < self.num_replicas:  # a rank without a batch would skip the gathering
                raise ValueError(
                    f"an evaluation split of {len(order)} examples cannot be shared by {self.num_replicas} processes:"
                    " evaluate at least one example per process (or run on fewer devices)"
                )
            order = order[self.rank :: self.num_replicas]
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        if self.shuffle and self.num_replicas > 1:
            # Every rank gets the same number of batches (DDP needs it): drop the ragged tail.
            usable = len(batches) // self.num_replicas * self.num_replicas
            batches = batches[self.rank : usable : self.num_replicas]
        skip = self.batches_already_done() % max(len(batches), 1)  # a finished epoch skips nothing
        yield from batches[skip:]

    def __len__(self) -> int:
        if not self.shuffle:  # evaluation: this rank's examples, every one
            examples = len(range(self.rank, len(self.lengths), self.num_replicas))
            return -(-examples // self.batch_size)
        n_batches = -(-len(self.lengths) // self.batch_size)
        return n_batches // self.num_replicas if self.num_replicas > 1 else n_batches


class RandomBatchSampler(LengthGroupedBatchSampler):
    """Plain shuffled batches (no length grouping), for the fixed-padding baseline."""

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            return self._eval_batches(list(range(n)))
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        return [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]


# What padded positions hold, per sequence field: never a real token, never a loss target.
FILLS = {"input_ids": None, "labels": -100, "word_index": -1, "attention_mask": 0}


def pad_batch(
    examples: list[dict],
    pad_token_id: int,
    pad_to: int | None = None,
    padding_side: str = "right",
    fills: dict[str, int | None] | None = None,
) -> dict:
    """Stack examples: sequence fields padded (input_ids with pad_token_id, labels with -100,
    word_index with -1, an attention mask built), scalar int fields stacked as they are.

    pad_to=None pads to the longest sequence in the batch (dynamic padding); an int pads every
    batch to that length (the fixed max-length baseline). Fields that are neither a list of the
    row's length nor an int (texts, label lists) are passed through as Python lists.
    """
    fills = {**FILLS, **(fills or {}), "input_ids": pad_token_id}
    width = pad_to or max(len(e["input_ids"]) for e in examples)
    batch: dict = {}
    sequence_keys = [k for k in examples[0] if k in fills and k != "attention_mask"]
    for key in sequence_keys + ["attention_mask"]:
        rows = []
        for example in examples:
            row = list(example[key]) if key != "attention_mask" else [1] * len(example["input_ids"])
            filler = [fills[key]] * (width - len(row))
            rows.append(filler + row if padding_side == "left" else row + filler)
        batch[key] = torch.tensor(rows, dtype=torch.long)
    for key in examples[0]:
        if key in batch:
            continue
        values = [e[key] for e in examples]
        batch[key] = torch.tensor(values, dtype=torch.long) if all(isinstance(v, int) for v in values) else values
    return batch
