"""Entry point: `python -m harness [+experiment=NAME] [group=choice ...] [-m for a sweep]`."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from harness.run import run_from_hydra


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def _main(cfg: DictConfig) -> float | None:
    return run_from_hydra(cfg)


def main() -> None:
    sys.exit(_main())


if __name__ == "__main__":
    main()
