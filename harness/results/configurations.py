"""Which records are one configuration: the run-only keys that never split a group, a variant's
id and label (only the keys that differ between a method's variants), and the evaluation set a
record was scored on (leaderboards never mix evaluation sets)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.results.collect import STRICT_RECORDED, span_definition
from harness.results.identity import NOT_PART_OF_IDENTITY
from harness.results.record import RunResult

# Config keys (at any depth) that identify a run but do not change the experiment, and every key
# that is not part of a run's identity at all (display and logging settings, where files go).
# `evaluate_test` too: a search trial (dev only) and the rerun of the selected configuration with
# test are one configuration, and the rerun's record (the one with a test score) stands for both.
RUN_ONLY_KEYS = frozenset(
    {"seed", "hydra", "run_id", "sweep", "output_dir", "wandb", "evaluate_test"}
    | {key.rsplit(".", 1)[-1] for key in NOT_PART_OF_IDENTITY}
)


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    if not isinstance(config, dict):
        return {prefix: config} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        flat.update(flatten(value, path) if isinstance(value, dict) else {path: value})
    return flat


def experiment_config(result: RunResult) -> dict[str, Any]:
    """The flattened config without run-only keys: what makes runs of one method differ.

    Keys set to None are left out, so a record written before an optional key existed (the key is
    absent) and one written after it with the key off (None) are the same configuration."""
    return {
        key: value
        for key, value in flatten(result.config).items()
        if value is not None and not any(part in RUN_ONLY_KEYS for part in key.split("."))
    }


def config_hash(config: dict[str, Any]) -> str:
    """A short, stable id of a flattened config (a variant's id, an evaluation set's id)."""
    canonical = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


# What decides which dev/test examples a record was scored on: the data it read (its hash) and the
# evaluation subset (named max_eval_sentences before every task kind counted examples). How the
# task is read (reader class, column layout, prompt template) is part of a variant, not of the
# evaluation set, so records from before and after the task readers changed share a board.
EVALUATION_SUBSET_KEYS = ("max_eval_examples", "max_eval_sentences")


def evaluation_config(result: RunResult) -> dict[str, Any]:
    """The evaluation set of a record: its data hash and evaluation subset size (None = all, left
    out as in `experiment_config`), and for span F1 its definition: a record scored under the strict
    IOB2 definition and not recomputable (no predictions.jsonl) is not comparable with conlleval's,
    so it gets a leaderboard of its own."""
    task = result.config.get("task")
    task = task if isinstance(task, dict) else {}
    config: dict[str, Any] = {"data": result.data_hash[:12]} if result.data_hash else {}
    subset = next((task[key] for key in EVALUATION_SUBSET_KEYS if task.get(key) is not None), None)
    if subset is not None:
        config["max_eval_examples"] = subset
    definition = span_definition(result)
    if definition is not None:
        config["span_f1"] = "strict IOB2" if definition == STRICT_RECORDED else "conlleval"
    return config


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """The flattened keys whose value (absent counts as a value) is not the same in every config, sorted."""
    missing = object()
    keys = sorted(set().union(*configs)) if configs else []
    return [k for k in keys if len({json.dumps(c.get(k, missing), default=str) for c in configs}) > 1]


def variant_labels(configs: dict[str, dict[str, Any]], unset: str = "(unset)") -> dict[str, str]:
    """For configs of one method: a short "key=value, ..." label of only the keys that differ."""
    if len(configs) < 2:
        return {vid: "" for vid in configs}
    differing = differing_keys(list(configs.values()))
    last = [k.rsplit(".", 1)[-1] for k in differing]
    short = {k: (s if last.count(s) == 1 else k) for k, s in zip(differing, last)}
    return {
        vid: ", ".join(f"{short[k]}={config[k] if k in config else unset}" for k in differing)
        for vid, config in configs.items()
    }
