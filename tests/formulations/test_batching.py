"""Length-grouped batching: every example exactly once, less padding than random batches."""

from __future__ import annotations

import random

from harness.formulations.batching import LengthGroupedBatchSampler, RandomBatchSampler, pad_batch


def _padding(batches, lengths) -> int:
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_each_example_once_per_epoch_and_epochs_differ():
    lengths = [random.Random(i).randint(3, 60) for i in range(1000)]
    sampler = LengthGroupedBatchSampler(lengths, batch_size=16, seed=3)
    first = list(sampler)
    assert sorted(i for b in first for i in b) == list(range(1000))
    assert len(first) == len(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first  # same seed and epoch: same order (resumable, reproducible)


def test_grouping_reduces_padding():
    lengths = [random.Random(i).randint(3, 60) for i in range(2000)]
    grouped = _padding(list(LengthGroupedBatchSampler(lengths, 16, seed=0)), lengths)
    plain = _padding(list(RandomBatchSampler(lengths, 16, seed=0)), lengths)
    assert grouped < plain / 3


def test_ranks_get_disjoint_equal_shares():
    lengths = list(range(5, 105))
    shards = [list(LengthGroupedBatchSampler(lengths, 8, seed=0, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1])
    assert not {i for b in shards[0] for i in b} & {i for b in shards[1] for i in b}


def test_pad_batch_fixed_width_and_fills():
    examples = [
        {"input_ids": [5, 6], "labels": [1, -100], "word_index": [0, -1], "index": 3, "num_words": 1},
        {"input_ids": [7], "labels": [2], "word_index": [0], "index": 4, "num_words": 1},
    ]
    batch = pad_batch(examples, pad_token_id=0, pad_to=4)
    assert batch["input_ids"].tolist() == [[5, 6, 0, 0], [7, 0, 0, 0]]
    assert batch["labels"].tolist() == [[1, -100, -100, -100], [2, -100, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 0, 0, 0]]
    assert batch["index"].tolist() == [3, 4]
