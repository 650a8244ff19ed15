"""Which attention heads LoFiT selected, as a layer x head heat map per leaderboard row.

A LoFiT run keeps its selected heads with the record (``artefacts/lofit_heads.json``: rank, layer,
head, score). For each row of a leaderboard whose runs have such files, the map shows, for every
(layer, head), the share of the row's seeds that selected it: 1 = every seed chose that head, so a
stable selection reads as a few dark cells and an unstable one as many pale ones. Rows that reuse
heads (``heads_from``) or draw them at random (the ablation) are drawn too, labelled by how the
heads were chosen.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import matplotlib
from matplotlib.figure import Figure

from harness.results.aggregate import Group, Leaderboard

HEADS_ARTEFACT = Path("artefacts") / "lofit_heads.json"
HEAD_MAP_STEM = "lofit_heads"


def find_head_files(root: str | Path, exclude: Sequence[str | Path] = ()) -> dict[str, Path]:
    """Run id -> its heads file, for every record under `root` (outside hidden and excluded folders)."""
    root = Path(root).resolve()
    excluded = [Path(p).resolve() for p in exclude]
    found: dict[str, Path] = {}
    for path in sorted(root.rglob(str(HEADS_ARTEFACT))):
        folder = path.parent.parent
        if any(part.startswith(".") for part in folder.relative_to(root).parts):
            continue
        if any(folder == other or other in folder.parents for other in excluded):
            continue
        found.setdefault(folder.name, path)  # the run folder is named by its run id
    return found


def selection_shares(files: list[Path]) -> tuple[list[list[float]], int, str]:
    """(share of runs selecting each head, layer-major; K; how the heads were chosen) over `files`."""
    payloads = [json.loads(path.read_text()) for path in files]
    layers, heads = payloads[0]["num_layers"], payloads[0]["num_heads"]
    shares = [[0.0] * heads for _ in range(layers)]
    for payload in payloads:
        for head in payload["heads"]:
            shares[head["layer"]][head["head"]] += 1 / len(payloads)
    ways = sorted({p["selection"].split(" ")[0] for p in payloads})  # "from <path>" -> "from"
    return shares, payloads[0]["k"], "/".join(ways)


def head_map_figure(board: Leaderboard, files: dict[str, Path]) -> Figure | None:
    """One heat map per row with heads files; None when no row has any."""
    rows: list[tuple[Group, list[Path]]] = []
    for group in board.groups:
        paths = [files[run.run_id] for run in group.runs if run.run_id in files]
        if paths:
            rows.append((group, paths))
    if not rows:
        return None
    columns = min(len(rows), 3)
    lines = math.ceil(len(rows) / columns)
    figure = Figure(figsize=(3.4 * columns + 0.8, 4.2 * lines), layout="constrained")
    axes = figure.subplots(lines, columns, squeeze=False)
    image = None
    for ax, (group, paths) in zip(axes.flat, rows):
        shares, k, way = selection_shares(paths)
        image = ax.imshow(shares, aspect="auto", origin="lower", cmap=matplotlib.colormaps["Blues"], vmin=0, vmax=1)
        ax.set_title(f"{group.label} · {group.model}\nK={k}, {way}, {len(paths)} seed(s)", fontsize=8)
        ax.set_xlabel("head", fontsize=8)
        ax.set_ylabel("layer", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(rows):]:
        ax.set_visible(False)
    figure.colorbar(image, ax=axes, shrink=0.8, label="share of seeds that selected the head")
    figure.suptitle(f"{board.title}: LoFiT heads", fontsize=10)
    return figure


def write_head_map_plot(board: Leaderboard, folder: Path, files: dict[str, Path]) -> list[Path]:
    """<folder>/lofit_heads.png and .svg, or nothing when no row kept LoFiT heads."""
    from harness.results.plots import save_figure

    figure = head_map_figure(board, files)
    if figure is None:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    return save_figure(figure, folder, HEAD_MAP_STEM)
