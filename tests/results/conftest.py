"""Fixture result records for the report tests, written with the real record code.

Tests get the helpers as fixtures (`make_record`, `write_record`): pytest imports test modules
in importlib mode, where they cannot import each other."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.results.record import Cost, RunResult, run_dir, run_id_for, write_result

SWEEP = "fixture_sweep"

# Hand-picked test scores (span_f1) per method and seed; see the hand computations in the tests.
LORA_TEST = {1: 0.80, 2: 0.84, 3: 0.88}
LORA_DEV = {1: 0.70, 2: 0.72, 3: 0.74}
IA3_TEST = {1: 0.78, 2: 0.80, 3: 0.85}
IA3_DEV = {1: 0.69, 2: 0.70, 3: 0.74}


def build_record(
    method: str, seed: int, test: float | None, dev: float | None = None, *, task: str = "conll2003",
    model: str = "tiny-llama", status: str = "completed", config: dict | None = None, error: dict | None = None,
    cost: Cost | None = None, started_at: str = "", finished_at: str = "", strict_only: bool = False,
) -> RunResult:
    """A record scored under today's span F1 definitions (conlleval `span_f1` and `span_f1_strict`),
    or, with `strict_only`, as records were before the conlleval definition (strict, no second key)."""
    config = {"task": task, "model": model, "method": {"name": method, **(config or {})}, "seed": seed}
    metrics = {}
    strict = (lambda score: {}) if strict_only else (lambda score: {"span_f1_strict": score})
    if test is not None:
        metrics["test"] = {"span_f1": test, "loss": 0.1, **strict(test)}
    if dev is not None:
        metrics["dev"] = {"span_f1": dev, **strict(dev)}
    return RunResult(
        run_id=run_id_for(config), status=status, sweep=SWEEP, task=task, model=model, method=method, seed=seed,
        config=config, primary_metric="span_f1", metrics=metrics, error=error,
        cost=cost or Cost(trainable_params=1000, peak_memory_bytes=300 * 2**20, train_seconds=60.0),
        started_at=started_at, finished_at=finished_at,
    )


def write_to(root: Path, record: RunResult) -> Path:
    return write_result(record, run_dir(root, record.sweep, record.run_id))


@pytest.fixture
def make_record():
    """build_record: a RunResult for (method, seed, test score, dev score, ...)."""
    return build_record


@pytest.fixture
def write_record():
    """write_to(root, record): write a record where a sweep would."""
    return write_to


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """Three seeds of lora and ia3 on one task, one failed lora run, one folder with no record."""
    root = tmp_path / "results"
    lora_cost = Cost(trainable_params=4_194_304, peak_memory_bytes=3 * 2**30, train_seconds=600.0,
                     eval_seconds_per_example=0.0042)
    ia3_cost = Cost(trainable_params=12_288, peak_memory_bytes=2 * 2**30, train_seconds=400.0)
    for seed in (1, 2, 3):
        write_to(root, build_record("lora", seed, LORA_TEST[seed], LORA_DEV[seed], cost=lora_cost))
        write_to(root, build_record("ia3", seed, IA3_TEST[seed], IA3_DEV[seed], cost=ia3_cost))
    failed = build_record(
        "lora", 4, 0.10, status="failed",  # a score it must not be averaged with
        error={"type": "OutOfMemoryError", "message": "CUDA out of memory\nTried to allocate 2 GiB", "traceback": ""},
    )
    write_to(root, failed)
    (root / SWEEP / "0123456789abcdef").mkdir(parents=True)  # a run that has not written its record yet
    return root
