"""Measuring what a run costs: wall time and tokens per second for training and evaluation, and
peak memory (max allocated CUDA memory on GPU; peak process RSS, sampled, on CPU).

RSS is sampled by a thread rather than read from getrusage because ru_maxrss is a lifetime peak:
in a multirun sweep every job after the first would inherit its predecessors' peak.
"""

from __future__ import annotations

import threading
import time

import lightning as L
import psutil
import torch


class PeakMemory:
    """Context manager: peak memory while inside, in bytes, and what kind of memory it is."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.kind = "cuda_max_allocated" if torch.cuda.is_available() else "rss"
        self._stop = threading.Event()

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, process.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "PeakMemory":
        if self.kind == "rss":
            self.peak_bytes = psutil.Process().memory_info().rss
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        else:
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc) -> None:
        if self.kind == "rss":
            self._stop.set()
            self._thread.join()
            self.peak_bytes = max(self.peak_bytes, psutil.Process().memory_info().rss)
        else:
            self.peak_bytes = torch.cuda.max_memory_allocated()


class ThroughputMeter(L.Callback):
    """Time and non-padding tokens of training batches and of evaluation batches."""

    def __init__(self) -> None:
        self.train_seconds = self.eval_seconds = 0.0
        self.train_tokens = self.eval_tokens = 0
        self.eval_examples = 0
        self.eval_seconds_during_fit = 0.0  # dev evaluations inside fit, to subtract from its wall time
        self._start = 0.0

    def _begin(self, *args, **kwargs) -> None:
        self._start = time.perf_counter()

    @staticmethod
    def _tokens(batch) -> int:
        """Real tokens a batch fed the model: its own count if it carries one, else its mask's."""
        if not isinstance(batch, dict):
            return 0
        if "num_tokens" in batch:
            return int(batch["num_tokens"])
        return int(batch["attention_mask"].sum()) if "attention_mask" in batch else 0

    on_train_batch_start = _begin
    on_validation_batch_start = _begin
    on_test_batch_start = _begin

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.train_seconds += time.perf_counter() - self._start
        self.train_tokens += self._tokens(batch)

    def _end_eval(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.sanity_checking:
            return
        elapsed = time.perf_counter() - self._start
        self.eval_seconds += elapsed
        # Generated tokens count too: generation's cost is mostly the tokens it writes.
        self.eval_tokens += self._tokens(batch) + int(getattr(module, "generated_in_last_batch", 0))
        self.eval_examples += len(batch["index"]) if isinstance(batch, dict) and "index" in batch else 0
        if trainer.state.fn == "fit":
            self.eval_seconds_during_fit += elapsed

    on_validation_batch_end = _end_eval
    on_test_batch_end = _end_eval

    @property
    def train_tokens_per_second(self) -> float:
        return self.train_tokens / self.train_seconds if self.train_seconds else 0.0

    @property
    def eval_tokens_per_second(self) -> float:
        return self.eval_tokens / self.eval_seconds if self.eval_seconds else 0.0

    @property
    def eval_examples_per_second(self) -> float:
        return self.eval_examples / self.eval_seconds if self.eval_seconds else 0.0

    @property
    def eval_seconds_per_example(self) -> float:
        """Batched latency: evaluation wall time over examples (not one example's own latency)."""
        return self.eval_seconds / self.eval_examples if self.eval_examples else 0.0
