"""One self-contained HTML page: every leaderboard, its Pareto plots and learning curves, and the
failed runs.

Inline CSS; plots embedded as base64 SVG data URIs (an <img> each, so the SVGs' internal ids never
clash); no scripts, fonts or links to anything outside the file.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from harness.results.aggregate import Leaderboard
from harness.results.seed_statistics import Statistics
from harness.results.collect import UnfinishedRun
from harness.results.head_maps import HEAD_MAP_STEM
from harness.results.leaderboard import (
    FAILED_HEADERS,
    board_note,
    board_slugs,
    failed_table,
    leaderboard_table,
    pair_rows,
    pairwise_note,
)
from harness.results.pairwise import PAIRWISE_HEADERS
from harness.results.plots import COST_AXES, LEARNING_CURVES_STEM
from harness.results.published import PUBLISHED_HEADERS, PUBLISHED_NOTE, published_beside, published_rows
from harness.results.setting_curves import SETTING_CURVES_STEM

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; white-space: nowrap; }
th { background: #f4f4f4; }
tr.best td { background: #fff6d5; }
tr.reference td { font-style: italic; }
tr.published td { color: #555; }
p.note, p.meta { color: #555; font-size: 0.85em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
.plots img { width: 380px; border: 1px solid #eee; }
.plots img.wide { width: 600px; }
"""


def _table(headers: list[str], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _svg_image(path: Path, alt: str, css: str = "") -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    css = f' class="{css}"' if css else ""
    return f'<img alt="{html.escape(alt)}"{css} src="data:image/svg+xml;base64,{data}">'


def render_page(
    leaderboards: list[Leaderboard], unfinished: list[UnfinishedRun], notes: list[str],
    statistics: Statistics, out: Path, title: str, meta: str,
) -> str:
    """The page as a string; plots are read from <out>/<task>/{pareto_*,learning_curves,lofit_heads}.svg where they exist."""
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>", f'<p class="meta">{html.escape(meta)}</p>',
    ]
    if not leaderboards:
        parts.append("<p>No completed runs.</p>")
    slugs = board_slugs(leaderboards)
    for board in leaderboards:
        headers, rows = leaderboard_table(board, escape=html.escape, bold=lambda s: f"<strong>{s}</strong>")
        classes = ["best" if g.best else ("reference" if g.is_reference else "") for g in board.groups]
        parts.append(f"<h2>{html.escape(board.title)}</h2>")
        parts.append(_table(headers, rows, classes))
        parts.append(f'<p class="note">{html.escape(board_note(board, statistics))}</p>')
        if board.pairs:
            parts.append(_table(PAIRWISE_HEADERS, pair_rows(board.pairs, html.escape)))
            parts.append(f'<p class="note">{html.escape(pairwise_note(board.pairs))}</p>')
        published = published_beside(board)
        if published:
            cells = [[html.escape(cell) for cell in row] for row in published_rows(published)]
            parts.append(_table(PUBLISHED_HEADERS, cells, ["published"] * len(cells)))
            parts.append(f'<p class="note">{html.escape(PUBLISHED_NOTE)}</p>')
        plots = [out / slugs[id(board)] / f"pareto_{axis.name}.svg" for axis in COST_AXES]
        images = [_svg_image(p, p.stem) for p in plots if p.exists()]
        curves = out / slugs[id(board)] / f"{LEARNING_CURVES_STEM}.svg"
        if curves.exists():  # wider: its legend sits beside the axes
            images.append(_svg_image(curves, curves.stem, css="wide"))
        settings = out / slugs[id(board)] / f"{SETTING_CURVES_STEM}.svg"
        if settings.exists():  # score against a swept setting (a context study, a learning-rate search)
            images.append(_svg_image(settings, settings.stem, css="wide"))
        heads = out / slugs[id(board)] / f"{HEAD_MAP_STEM}.svg"
        if heads.exists():  # LoFiT's selected heads, one map per row
            images.append(_svg_image(heads, heads.stem, css="wide"))
        if images:
            parts.append('<div class="plots">' + "".join(images) + "</div>")
    parts.append("<h2>Failed and incomplete runs</h2>")
    if unfinished:
        parts.append("<p>Not counted in any leaderboard.</p>")
        parts.append(_table(FAILED_HEADERS, failed_table(unfinished, html.escape)))
    else:
        parts.append("<p>None.</p>")
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_page(path: Path, *args, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(*args, **kwargs), encoding="utf-8")
    return path
