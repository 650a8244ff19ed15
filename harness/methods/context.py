"""What a method is told when it adapts a backbone (the method contract's ``apply`` argument)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.models.info import ModelInfo


@dataclass
class MethodContext:
    """The backbone's shape, its tokenizer, the task's labels, which stage runs, and a folder whose
    files are kept with the result record (selected heads, soft-prompt initialisations)."""

    info: ModelInfo
    formulation: str
    stage: str = "train"
    tokenizer: Any = None
    labels: list[str] = field(default_factory=list)
    artefact_dir: Path | None = None
    previous: Any = None  # the previous stage's trained module (multi-stage methods read it)
