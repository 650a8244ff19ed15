"""Find every run folder under a results directory and sort it into completed, failed or incomplete.

A run folder is one that holds a ``result.json``, one whose name is a run id (16 hex digits, see
`record.run_id_for`), or a sibling of a run folder inside the same sweep folder. A folder without a
readable record is *incomplete* (interrupted while writing, or its record is corrupt); a record with
status "failed" is *failed*; a completed record without a test score for its primary metric is
listed as incomplete too, unless it is a search trial (`evaluate_test: false`, scored on dev only),
which counts as completed: model selection uses it, test statistics do not. Only completed, scored
records ever reach the statistics.

Span F1 changed definition: records written before it hold the strict IOB2 score under the name
``span_f1`` (and no ``span_f1_strict``); newer ones hold conlleval's (see harness.metrics.span_f1).
An old record with its ``predictions.jsonl`` is rescored here, in memory only (a record on disk is
a fact, never rewritten), once the predictions reproduce its recorded strict score; one without
keeps its strict score. `span_definition` says which a record's ``span_f1`` is, and the
collection's notes say it once per task.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.results.record import PREDICTIONS_FILE, RESULT_FILE, RunResult, read_result

RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
REPORT_MARKERS = ("report.html", "leaderboard.md")  # a report written inside a sweep folder is not a run


@dataclass
class UnfinishedRun:
    """A run that contributes no score: failed, or incomplete (no readable, scored record)."""

    path: Path
    status: str  # "failed" | "incomplete"
    reason: str  # error type, or why the folder counts as incomplete
    message: str = ""  # first line of the error message
    run_id: str = ""
    sweep: str = ""
    task: str = ""
    model: str = ""
    method: str = ""
    seed: int | None = None
    has_record: bool = False  # False: no result.json at all


@dataclass
class Collection:
    """Everything found under one results directory."""

    root: Path
    completed: list[RunResult] = field(default_factory=list)
    unfinished: list[UnfinishedRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[UnfinishedRun]:
        return [run for run in self.unfinished if run.status == "failed"]

    @property
    def incomplete(self) -> list[UnfinishedRun]:
        return [run for run in self.unfinished if run.status == "incomplete"]


def primary_score(result: RunResult, split: str) -> float | None:
    """The record's primary metric on `split` ("dev" or "test"), or None when missing or not a number."""
    value = (result.metrics.get(split) or {}).get(result.primary_metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def is_search_trial(result: RunResult) -> bool:
    """A run told not to read the test set (a hyperparameter-search trial) that has its dev score."""
    return result.config.get("evaluate_test") is False and primary_score(result, "dev") is not None


SPAN_METRIC = "span_f1"
CONLLEVAL = "conlleval"
STRICT_RECORDED = "strict IOB2 (recorded before the conlleval definition)"
RECOMPUTED = "conlleval (recomputed from predictions.jsonl)"
# Set in memory on the splits of a rescored record: the record on disk does not say it.
SPAN_DEFINITION_KEY = "span_definition"


def _span_scored_splits(result: RunResult) -> dict[str, dict]:
    return {
        split: scores for split, scores in result.metrics.items() if isinstance(scores, dict) and SPAN_METRIC in scores
    }


def span_definition(result: RunResult) -> str | None:
    """Which definition the record's span_f1 follows (CONLLEVAL, RECOMPUTED or STRICT_RECORDED);
    None for a record whose primary metric is not span_f1."""
    if result.primary_metric != SPAN_METRIC:
        return None
    splits = _span_scored_splits(result).values()
    if any(scores.get(SPAN_DEFINITION_KEY) == RECOMPUTED for scores in splits):
        return RECOMPUTED
    if any("span_f1_strict" in scores for scores in splits):
        return CONLLEVAL
    return STRICT_RECORDED


def _tags_by_split(path: Path) -> dict[str, tuple[list[list[str]], list[list[str]]]]:
    """{split: (predicted tag lists, gold tag lists)} from a predictions.jsonl."""
    by_split: dict[str, tuple[list[list[str]], list[list[str]]]] = {}
    with path.open() as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                predicted, gold = by_split.setdefault(row["split"], ([], []))
                predicted.append(row["prediction"])
                gold.append(row["gold"])
    return by_split


def _rescored(result: RunResult, predictions: Path) -> RunResult:
    """A copy of an old strict-span record with every span-scored split rescored from its predictions;
    raises ValueError when they are missing a split or do not reproduce the recorded strict score."""
    # Imported here: the metric pulls in evaluate and datasets, which only old records need.
    from harness.metrics.span_f1 import span_scores

    by_split = _tags_by_split(predictions)
    metrics = dict(result.metrics)
    for split, recorded in _span_scored_splits(result).items():
        if split not in by_split:
            raise ValueError(f"no {split} rows")
        scores = span_scores(*by_split[split])
        if not math.isclose(scores["span_f1_strict"], recorded[SPAN_METRIC], rel_tol=0, abs_tol=1e-9):
            rescored, kept = scores["span_f1_strict"], recorded[SPAN_METRIC]
            raise ValueError(f"{split} rows give strict span F1 {rescored:.6f}, the record {kept:.6f}")
        metrics[split] = {**recorded, **scores, SPAN_DEFINITION_KEY: RECOMPUTED}
    return dataclasses.replace(result, metrics=metrics)


def with_conlleval_span_f1(result: RunResult, folder: Path) -> tuple[RunResult, str | None]:
    """The record with conlleval span scores where it holds only strict ones and its predictions.jsonl
    allows rescoring; else the record unchanged. The second value is a note when predictions exist
    but cannot be used."""
    predictions = folder / PREDICTIONS_FILE
    if span_definition(result) != STRICT_RECORDED or not predictions.exists():
        return result, None
    try:
        return _rescored(result, predictions), None
    except (OSError, ValueError, TypeError, KeyError, json.JSONDecodeError) as error:
        reason = _first_line(f"{type(error).__name__}: {error}")
        return result, f"run {result.run_id}: span_f1 stays strict IOB2, {PREDICTIONS_FILE} not used ({reason})"


def span_definition_notes(completed: list[RunResult]) -> list[str]:
    """One line per task whose span_f1 is not conlleval's in every record: how many records follow
    each definition, since one leaderboard ranks them together."""
    by_task: dict[str, Counter] = {}
    for result in completed:
        definition = span_definition(result)
        if definition is not None:
            by_task.setdefault(result.task, Counter())[definition] += 1
    notes = []
    for task, counts in sorted(by_task.items()):
        if set(counts) != {CONLLEVAL}:
            listed = ", ".join(f"{counts[d]} {d}" for d in (CONLLEVAL, RECOMPUTED, STRICT_RECORDED) if counts[d])
            notes.append(f"{task}: span_f1 records by definition: {listed}")
    return notes


def _first_line(text: str) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def _inside(path: Path, others: list[Path]) -> bool:
    return any(path == other or other in path.parents for other in others)


def run_folders(root: Path, exclude: list[Path]) -> list[Path]:
    """Every run folder under `root` (see the module docstring), skipping hidden and excluded ones."""
    found: set[Path] = set()
    for record in root.rglob(RESULT_FILE):
        found.add(record.parent)
    for candidate in root.rglob("*"):
        if candidate.is_dir() and RUN_ID_PATTERN.match(candidate.name):
            found.add(candidate)
    for sweep in {folder.parent for folder in found}:
        for sibling in sweep.iterdir():
            if sibling.is_dir() and sibling != root and not any((sibling / m).exists() for m in REPORT_MARKERS):
                found.add(sibling)
    visible = [
        folder
        for folder in found
        if not any(part.startswith(".") for part in folder.relative_to(root).parts)
        and not _inside(folder, exclude)
    ]
    # A folder that holds other run folders (a sweep mistaken for a sibling) is not itself a run.
    return sorted(f for f in visible if not any(f in other.parents for other in visible))


def collect(root: str | Path, exclude: list[str | Path] = ()) -> Collection:
    """Read every run folder under `root`; `exclude` lists folders to skip (e.g. the report's own)."""
    root = Path(root).resolve()
    excluded = [Path(p).resolve() for p in exclude]
    collection = Collection(root=root)
    by_run_id: dict[str, RunResult] = {}
    failed_records: list[tuple[RunResult, UnfinishedRun]] = []
    for folder in run_folders(root, excluded):
        sweep = folder.parent.name if folder.parent != root else ""
        record_path = folder / RESULT_FILE
        if not record_path.exists():
            collection.unfinished.append(
                UnfinishedRun(folder, "incomplete", "no result.json (interrupted, or still being written)",
                              run_id=folder.name, sweep=sweep)
            )
            continue
        try:
            result = read_result(record_path)
        except (ValueError, TypeError, KeyError, json.JSONDecodeError) as error:
            collection.unfinished.append(
                UnfinishedRun(
                    folder, "incomplete", "unreadable result.json", _first_line(f"{type(error).__name__}: {error}"),
                    run_id=folder.name, sweep=sweep, has_record=True,
                )
            )
            continue
        described = dict(
            run_id=result.run_id, sweep=result.sweep, task=result.task, model=result.model,
            method=result.method, seed=result.seed, has_record=True,
        )
        if result.status == "failed":
            error = result.error or {}
            unfinished = UnfinishedRun(
                folder, "failed", error.get("type", "unknown error"), _first_line(error.get("message", "")), **described
            )
            failed_records.append((result, unfinished))
        elif result.status != "completed":
            collection.unfinished.append(
                UnfinishedRun(folder, "incomplete", f"unknown status {result.status!r}", **described)
            )
        elif primary_score(result, "test") is None and not is_search_trial(result):
            reason = f"completed, but no test score for primary metric {result.primary_metric!r}"
            collection.unfinished.append(UnfinishedRun(folder, "incomplete", reason, **described))
        elif result.run_id in by_run_id:
            # Same config and seed found twice (a copied sweep): one fact, counted once.
            collection.notes.append(f"run {result.run_id} found twice; counted once ({folder})")
        else:
            result, note = with_conlleval_span_f1(result, folder)
            collection.notes.extend([note] if note else [])
            by_run_id[result.run_id] = result
            collection.completed.append(result)
    for result, unfinished in failed_records:
        if result.run_id in by_run_id:
            collection.notes.append(f"failed run {result.run_id} also completed elsewhere; the failure is not listed")
        else:
            collection.unfinished.append(unfinished)
    collection.unfinished.sort(key=lambda run: (run.status, run.task, run.method, run.seed or 0, str(run.path)))
    collection.notes.extend(span_definition_notes(collection.completed))
    return collection
