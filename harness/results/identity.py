"""What makes two runs the same run: the keys of the resolved config that can change a result,
the fingerprint of the data read and the fingerprint of the model's files.

The run id is a hash of exactly this, so a rerun of the same experiment finds its record (and is
skipped), while other data or other weights under the same config are a new run, never a skip
with the old scores. The report groups records by the same rule (`configurations.RUN_ONLY_KEYS`
takes the last part of every key named here), so a display setting never splits a leaderboard row.
"""

from __future__ import annotations

from typing import Any

from harness.results.record import run_id_for

# Dotted config keys left out of a run's identity, each because it cannot change what a run
# computes, only where its outputs go or how its progress is shown:
NOT_PART_OF_IDENTITY = (
    "paths",  # where records, checkpoints and caches are written
    "logger",  # where metrics are mirrored (W&B, CSV); the record holds them either way
    "trainer.progress_bar",  # screen output only
    "trainer.log_every_n_steps",  # how often the loggers are written, not what is trained
    "trainer.num_workers",  # data-loader processes: the batches and their order are the sampler's
    "trainer.checkpoint_every_n_steps",  # resume granularity; a resumed run matches an uninterrupted one
)


def without_keys(config: dict[str, Any], dotted_keys: tuple[str, ...]) -> dict[str, Any]:
    """A copy of a nested config without the named dotted keys (absent ones are ignored)."""
    result = dict(config)
    for key in dotted_keys:
        head, _, rest = key.partition(".")
        if head not in result:
            continue
        if not rest:
            del result[head]
        elif isinstance(result[head], dict):
            result[head] = without_keys(result[head], (rest,))
    return result


def run_identity(resolved_config: dict[str, Any], data_hash: str | None, model_hash: str | None) -> dict[str, Any]:
    """Everything a run's result depends on: config (less display keys), data and weights."""
    identity = without_keys(resolved_config, NOT_PART_OF_IDENTITY)
    identity["data_hash"] = data_hash
    identity["model_hash"] = model_hash
    return identity


def run_id(resolved_config: dict[str, Any], data_hash: str | None, model_hash: str | None) -> str:
    return run_id_for(run_identity(resolved_config, data_hash, model_hash))
