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

Status = Literal["completed", "failed"]


@dataclass
class Cost:
    """What a run cost. Memory is RSS on CPU, max allocated CUDA memory on GPU."""

    trainable_params: int = 0
    total_params: int = 0
    peak_memory_bytes: int = 0
    peak_memory_kind: str = "rss"  # "rss" | "cuda_max_allocated"
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    train_tokens_per_second: float = 0.0
    eval_tokens_per_second: float = 0.0


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
    primary_metric: str = ""
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # {"dev": {...}, "test": {...}}
    cost: Cost = field(default_factory=Cost)
    versions: dict[str, str] = field(default_factory=dict)
    data_hash: str = ""
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
