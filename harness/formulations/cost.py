"""Measuring what a run costs: wall time and tokens per second for training and evaluation, and
peak memory (max allocated CUDA memory on GPU; peak process RSS, sampled, on CPU).

RSS is sampled by a thread rather than read from getrusage because ru_maxrss is a lifetime peak:
in a multirun sweep every job after the first would inherit its predecessors' peak.

A run that is killed and resumed costs all its attempts: `AttemptLedger` keeps a stage's running
totals in a JSON file beside its checkpoints, rewritten after every training batch and every
evaluation, so a killed attempt's spending (to its last batch) is added to the one that resumes it.

Under DDP every rank measures its own work (its own ledger file); `combine_ranks` makes them the
run's: tokens and examples summed, seconds the slowest rank's, memory the largest process's peak.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

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

    def peak_so_far(self) -> int:
        return self.peak_bytes if self.kind == "rss" else torch.cuda.max_memory_allocated()

    def __exit__(self, *exc) -> None:
        if self.kind == "rss":
            self._stop.set()
            self._thread.join()
            self.peak_bytes = max(self.peak_bytes, psutil.Process().memory_info().rss)
        else:
            self.peak_bytes = torch.cuda.max_memory_allocated()


class ThroughputMeter(L.Callback):
    """Time and non-padding tokens of training batches and of evaluation batches."""

    def __init__(self, on_progress: Callable[[], None] | None = None) -> None:
        self.on_progress = on_progress  # called after each training batch and each evaluation
        self.train_seconds = self.eval_seconds = 0.0
        self.train_tokens = self.eval_tokens = 0
        self.eval_examples = 0
        self.eval_seconds_during_fit = 0.0  # dev evaluations inside fit, to subtract from its wall time
        self.fit_started: float | None = None  # perf_counter at on_fit_start (after DDP ranks start)
        self._start = 0.0

    def on_fit_start(self, trainer, module) -> None:
        self.fit_started = time.perf_counter()

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
        self._progress()

    def _progress(self, *args, **kwargs) -> None:
        if self.on_progress is not None:
            self.on_progress()

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
    on_validation_end = _progress
    on_test_end = _progress

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


# A stage's cost counts, summed over attempts (peak memory: the maximum; attempts: how many).
SUMMED = ("train_seconds", "train_batch_seconds", "eval_seconds", "train_tokens", "eval_tokens", "eval_examples")
# Over DDP ranks: work is summed; time is the slowest rank's (the others wait for it at each
# gradient all-reduce and at each evaluation's gathering), so tokens/s is the global throughput.
WORK = ("train_tokens", "eval_tokens", "eval_examples")


def combine_ranks(totals: list[dict[str, Any]]) -> dict[str, Any]:
    """One stage's totals from every rank (`AttemptLedger.total`, rank order) as the run's: work
    summed; seconds, peak memory (each process's own) and attempts the largest."""
    return {key: (sum if key in WORK else max)(rank[key] for rank in totals) for key in totals[0]}


class AttemptLedger:
    """A stage's cost over every attempt at it, kept in `path` while the attempt runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.earlier = self._read()  # what attempts before this one spent (zeros for the first)

    def _read(self) -> dict[str, Any]:
        zero: dict[str, Any] = {key: 0 for key in SUMMED} | {"peak_memory_bytes": 0, "attempts": 0}
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return zero  # no earlier attempt (or it died before its first batch)
        return {key: saved.get(key, value) for key, value in zero.items()}

    def total(self, this_attempt: dict[str, Any]) -> dict[str, Any]:
        """Earlier attempts plus this one's counts so far."""
        total = {key: self.earlier[key] + this_attempt[key] for key in SUMMED}
        total["peak_memory_bytes"] = max(self.earlier["peak_memory_bytes"], this_attempt["peak_memory_bytes"])
        total["attempts"] = self.earlier["attempts"] + 1
        return total

    def write(self, this_attempt: dict[str, Any]) -> None:
        """Atomically: a kill mid-write leaves the previous totals, never half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".cost.", dir=self.path.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.total(this_attempt), handle)
        os.replace(tmp, self.path)
