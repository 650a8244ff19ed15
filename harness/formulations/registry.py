"""Formulation name -> builder of (LightningModule, LightningDataModule).

A new formulation is a module here plus one entry below; methods and tasks name formulations by
these strings, so neither imports the other.
"""

from __future__ import annotations

from harness.formulations.token_classification import build_token_classification

BUILDERS = {
    "token_classification": build_token_classification,
}


# What a task kind is trained as unless the run config names another formulation.
DEFAULT_FORMULATION = {"sequence_labeling": "token_classification"}


def default_formulation(task_kind: str) -> str:
    if task_kind not in DEFAULT_FORMULATION:
        raise ValueError(f"formulation: task kind {task_kind!r} has no default; set `formulation` explicitly")
    return DEFAULT_FORMULATION[task_kind]


def builder_for(name: str):
    if name not in BUILDERS:
        raise ValueError(f"formulation: {name!r} is not implemented; available: {sorted(BUILDERS)}")
    return BUILDERS[name]
