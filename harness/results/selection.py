"""The value of a setting that each method's dev-selected variant used, read from a search's records.

This is how a two-phase sweep hands a choice made on dev to its final runs (`sweeps/cpu_reference.sh`:
a learning-rate search on a subset, then the selected rate with more seeds on the full data). The
selection is the report's own (`aggregate.select_on_dev`: best dev mean, never test), so the sweep
and the leaderboard cannot disagree about which variant won.

    python -m harness.results.selection results/cpu_reference_lr --key method.lr
    # model=smollm2_135m method=ls_llama method.lr=0.001   (one line per task, model and method)
`--seed N` selects among that seed's runs only: a sweep that adds seeds to the winner afterwards
(cpu_reference.sh's full-data check) keeps choosing the same winner when it is rerun to resume.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.results.aggregate import build_leaderboards
from harness.results.collect import collect
from harness.results.configurations import flatten


@dataclass
class Selected:
    task: str
    model: str
    method: str
    value: Any
    dev_mean: float
    candidates: int  # variants the method was selected from


def selected_values(results_dir: Path, key: str, seed: int | None = None) -> list[Selected]:
    """Per task, model and method: `key`'s value in the variant selected on dev (primary metric),
    among the runs of `seed` only when it is given."""
    collection = collect(results_dir)
    runs = [run for run in collection.completed if seed is None or run.seed == seed]
    boards, _ = build_leaderboards(runs)
    chosen: list[Selected] = []
    for board in boards:
        if board.metric != board.groups[0].runs[0].primary_metric:
            continue  # a secondary metric's board selects on its own metric; the primary one decides
        for group in board.groups:
            if not group.selected:
                continue
            values = {repr(flatten(run.config).get(key)) for run in group.runs}
            if len(values) != 1 or flatten(group.runs[0].config).get(key) is None:
                raise ValueError(f"{group.task}/{group.method}: the selected variant has no single {key} ({values})")
            candidates = sum(1 for g in board.groups if (g.model, g.method) == (group.model, group.method))
            chosen.append(Selected(
                group.task, group.model, group.method, flatten(group.runs[0].config)[key], group.dev.mean, candidates,
            ))  # fmt: skip
    return sorted(chosen, key=lambda s: (s.task, s.model, s.method))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.results.selection", description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("--key", default="method.lr", help="dotted config key (default method.lr)")
    parser.add_argument("--seed", type=int, help="select among this seed's runs only (default: every seed's mean)")
    args = parser.parse_args(argv)
    for selected in selected_values(args.results_dir, args.key, args.seed):
        print(f"model={selected.model} method={selected.method} {args.key}={selected.value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
