"""The result record: one JSON file per run, written atomically, never overwritten once complete.

A run's id is a hash of its resolved config (seed included), so rerunning the same config finds
the same folder: a completed record there means the run is skipped; a failed one is retried and
replaced. The report (`harness.results.report`) reads only these files.

Layout: ``<results_dir>/<sweep>/<run_id>/result.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1
RESULT_FILE = "result.json"
PREDICTIONS_FILE = "predictions.jsonl"

Status = Literal["completed", "failed"]


@dataclass
class Cost:
    """What a run cost. Memory is RSS on CPU, max allocated CUDA memory on GPU. With several processes
    (DDP) these are the run's: tokens and examples over all ranks, seconds the slowest rank's (so
    tokens/s is global throughput), memory the peak of the largest single process (not a sum)."""

    trainable_params: int = 0
    total_params: int = 0
    peak_memory_bytes: int = 0
    peak_memory_kind: str = "rss"  # "rss" | "cuda_max_allocated"
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    train_tokens_per_second: float = 0.0
    eval_tokens_per_second: float = 0.0  # prompt and generated tokens alike
    eval_examples_per_second: float = 0.0
    eval_seconds_per_example: float = 0.0  # evaluation wall time over examples, batched as configured
    attempts: int = 1  # attempts at the run's longest-retried stage; every figure above covers all of them


@dataclass
class RunResult:
    """Everything one run leaves behind: what ran, what it cost, what it scored."""

    run_id: str
    status: Status
    sweep: str
    task: str
    model: str
    method: str
    seed: int
    config: dict[str, Any]
    experiment: str | None = None
    formulation: str = ""
    attention: str = ""
    primary_metric: str = ""
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # {"dev": {...}, "test": {...}}
    cost: Cost = field(default_factory=Cost)
    versions: dict[str, str] = field(default_factory=dict)
    data_hash: str = ""
    data_source: str = ""  # the folder read, or "hub:<dataset id>"
    model_hash: str = ""  # sha256 over the weight and tokenizer files (models/fingerprint.py)
    precision: str = ""  # what ran and why, e.g. "bf16-mixed (auto: CPU with native bf16 (AVX512_BF16))"
    stages: list[dict[str, Any]] = field(default_factory=list)  # per stage: cost, dev selection
    artefacts: list[str] = field(default_factory=list)  # files under artefacts/ beside the record
    warnings: list[str] = field(default_factory=list)  # e.g. a model that predicts nothing on dev
    error: dict[str, str] | None = None  # {"type", "message", "traceback"} when failed
    started_at: str = ""
    finished_at: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunResult":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["cost"] = Cost(**data.get("cost", {}))
        return cls(**values)


def run_id_for(resolved_config: dict[str, Any]) -> str:
    """A stable 16-hex-digit id for a resolved config (which includes the seed)."""
    canonical = json.dumps(resolved_config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def run_dir(results_dir: str | Path, sweep: str, run_id: str) -> Path:
    return Path(results_dir) / sweep / run_id


def write_result(result: RunResult, directory: str | Path) -> Path:
    """Write result.json atomically: a reader sees the old file or the new one, never half."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / RESULT_FILE
    fd, tmp = tempfile.mkstemp(prefix=".result.", suffix=".json.tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(result.to_dict(), handle, indent=2, sort_keys=True, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def sum_stage_costs(stages: list[dict[str, Any]], trainable_params: int, total_params: int) -> Cost:
    """A run's cost over all its stages (each summed over its attempts): times and tokens summed,
    peak memory the maximum."""
    total = lambda key: sum(stage[key] for stage in stages)  # noqa: E731
    eval_seconds, examples = total("eval_seconds"), total("eval_examples")
    batch_seconds = total("train_batch_seconds")
    return Cost(
        trainable_params=trainable_params,
        total_params=total_params,
        peak_memory_bytes=max((stage["peak_memory_bytes"] for stage in stages), default=0),
        peak_memory_kind=stages[-1]["peak_memory_kind"] if stages else "rss",
        train_seconds=total("train_seconds"),
        eval_seconds=eval_seconds,
        train_tokens_per_second=total("train_tokens") / batch_seconds if batch_seconds else 0.0,
        eval_tokens_per_second=total("eval_tokens") / eval_seconds if eval_seconds else 0.0,
        eval_examples_per_second=examples / eval_seconds if eval_seconds else 0.0,
        eval_seconds_per_example=eval_seconds / examples if examples else 0.0,
        attempts=max((stage.get("attempts", 1) for stage in stages), default=1),
    )


def plain_scores(scores: dict[str, Any]) -> dict[str, Any]:
    """Metric output as JSON-ready plain values (numpy and torch numbers become floats)."""
    return {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in scores.items()}


def write_predictions(rows: list[dict[str, Any]], directory: str | Path) -> Path:
    """predictions.jsonl (one line per dev and test example), written atomically like the record."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / PREDICTIONS_FILE
    fd, tmp = tempfile.mkstemp(prefix=".predictions.", suffix=".jsonl.tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_result(path: str | Path) -> RunResult:
    path = Path(path)
    with path.open() as handle:
        data = json.load(handle)
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    return RunResult.from_dict(data)


def completed_result(directory: str | Path) -> RunResult | None:
    """The record in `directory` if it exists and is complete, else None (absent, failed or unreadable)."""
    path = Path(directory) / RESULT_FILE
    if not path.exists():
        return None
    try:
        result = read_result(path)
    except (ValueError, json.JSONDecodeError, TypeError):
        return None
    return result if result.status == "completed" else None


def iter_results(root: str | Path):
    """Every readable record under `root`, recursively, as (path, RunResult)."""
    for path in sorted(Path(root).rglob(RESULT_FILE)):
        yield path, read_result(path)
