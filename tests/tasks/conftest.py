"""Tasks are built the way a run builds them: from a YAML node, through `instantiate_group`."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from harness.config import instantiate_group

TASK_CONF = Path(__file__).resolve().parents[2] / "conf" / "task"


def task_from_conf(name: str, **overrides):
    """The task of ``conf/task/<name>.yaml``, with ``overrides`` merged in as a run would."""
    node = OmegaConf.merge(OmegaConf.load(TASK_CONF / f"{name}.yaml"), overrides)
    return instantiate_group(node, "task")


def task_from_yaml(text: str):
    """A task from YAML text alone: how a new data set in a known format is added."""
    return instantiate_group(OmegaConf.create(text), "task")


@pytest.fixture(scope="session")
def conf_task():
    return task_from_conf


@pytest.fixture(scope="session")
def yaml_task():
    return task_from_yaml


def write_split_files(folder: Path, contents: dict[str, str | bytes]) -> Path:
    """Writes ``{file name: content}`` into ``folder`` (created); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


@pytest.fixture(scope="session")
def write_files():
    return write_split_files
