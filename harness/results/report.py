"""`python -m harness.report RESULTS_DIR`: leaderboards, Pareto plots, learning curves and an HTML page
from result records.

    python -m harness.report results/                     # report into results/report/
    python -m harness.report results/ --reference lora    # paired tests against LoRA
    python -m harness.report results/my_sweep --watch 60 --expected 48   # follow a running sweep

Writes <out>/leaderboard.{md,csv}, <out>/pairwise.csv (every pair of a board's selected variants, also
under each board in the Markdown and HTML), <out>/failed_runs.{md,csv}, <out>/report.html, and per task
<out>/<task>/leaderboard.{md,csv,tex}, <out>/<task>/pareto_{trainable_params,peak_memory,train_time}.{png,svg},
where records keep dev histories <out>/<task>/learning_curves.{png,svg}, and where a method's
variants sweep one numeric setting (k, a learning rate) <out>/<task>/setting_curves.{png,svg}.
With --watch it prints a progress line every SECONDS until --expected jobs have finished (one line
without --expected), then writes the report.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

from harness.results.aggregate import build_leaderboards
from harness.results.seed_statistics import Statistics
from harness.results.collect import collect
from harness.results.example_significance import PredictionFiles, find_prediction_files
from harness.results.head_maps import find_head_files, write_head_map_plot
from harness.results.html_page import write_page
from harness.results.leaderboard import board_slugs, write_tables
from harness.results.pairwise import compare_pairs
from harness.results.plots import write_learning_curve_plot, write_pareto_plots
from harness.results.progress import progress, progress_line
from harness.results.setting_curves import write_setting_curves_plot


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m harness.report", description="Leaderboards, confidence intervals and Pareto plots "
        "from the result records under RESULTS_DIR (<sweep>/<run_id>/result.json, at any depth)."
    )
    parser.add_argument("results_dir", type=Path, metavar="RESULTS_DIR")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: RESULTS_DIR/report)")
    parser.add_argument("--reference", default=None, metavar="METHOD",
                        help="method to compare every other method against: paired t-test and ASO over "
                             "seeds, paired bootstrap over test examples")
    parser.add_argument("--watch", type=float, nargs="?", const=30.0, default=None, metavar="SECONDS",
                        help="print a progress line every SECONDS (default 30) until --expected jobs finished")
    parser.add_argument("--expected", type=int, default=None, metavar="N", help="jobs the sweep will run in all")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples of the seed CI and of the "
                        "example-level test (default 10000)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")
    parser.add_argument("--no-plots", action="store_true", help="skip the Pareto plots and learning curves")
    parser.add_argument("--no-pairwise", action="store_true", help="skip the tests between every pair of a "
                        "board's selected variants (the reference columns stay)")
    parser.add_argument("--exclude", type=Path, action="append", default=[], metavar="FOLDER",
                        help="a folder of records to leave out (e.g. a reproduction check); repeatable")
    args = parser.parse_args(argv)
    if not args.results_dir.is_dir():
        parser.error(f"RESULTS_DIR {args.results_dir} is not a folder")
    if args.expected is not None and args.expected < 1:
        parser.error("--expected must be at least 1")
    if not 0 < args.confidence < 1:
        parser.error("--confidence must lie between 0 and 1")
    return args


def watch(results_dir: Path, out: Path, expected: int | None, every: float, exclude: list[Path] = ()) -> None:
    while True:
        state = progress(collect(results_dir, exclude=[out, *exclude]), expected)
        print(f"[{datetime.now():%H:%M:%S}] {progress_line(state)}", flush=True)
        if expected is None or state.complete:
            return
        time.sleep(every)


def write_report(results_dir: Path, out: Path, reference: str | None, statistics: Statistics,
                 expected: int | None = None, plots: bool = True, exclude: list[Path] = (),
                 pairwise: bool = True) -> tuple[list[Path], str]:
    """Write every table, plot and the HTML page; returns the files written and the progress line.
    ``exclude``: folders of records to leave out (the report's own folder always is); ``pairwise``:
    test every pair of each board's selected variants too."""
    collection = collect(results_dir, exclude=[out, *exclude])
    predictions = PredictionFiles(find_prediction_files(collection.root, [out, *exclude]))
    leaderboards, notes = build_leaderboards(collection.completed, reference, statistics, predictions)
    if pairwise:
        for board in leaderboards:
            board.pairs = compare_pairs(board, statistics, predictions)
    notes = collection.notes + notes
    written = write_tables(leaderboards, collection.unfinished, notes, out, statistics)
    if plots:
        slugs = board_slugs(leaderboards)
        head_files = find_head_files(collection.root, [out, *exclude])
        for board in leaderboards:
            written += write_pareto_plots(board, out / slugs[id(board)])
            written += write_learning_curve_plot(board, out / slugs[id(board)])
            written += write_setting_curves_plot(board, out / slugs[id(board)])
            written += write_head_map_plot(board, out / slugs[id(board)], head_files)
    line = progress_line(progress(collection, expected))
    # The folder as given, not resolved: a committed page names no machine's paths.
    meta = f"{results_dir} — {line}" + (f" — reference: {reference}" if reference else "")
    written.append(write_page(out / "report.html", leaderboards, collection.unfinished, notes, statistics, out,
                              title=f"Benchmark report: {collection.root.name}", meta=meta))
    return written, line


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out if args.out is not None else args.results_dir / "report"
    try:
        if args.watch is not None:
            watch(args.results_dir, out, args.expected, args.watch, args.exclude)
    except KeyboardInterrupt:
        return 130
    statistics = Statistics(confidence=args.confidence, resamples=args.resamples)
    written, line = write_report(
        args.results_dir, out, args.reference, statistics, args.expected, not args.no_plots, args.exclude,
        not args.no_pairwise,
    )
    if args.watch is None:
        print(line)
    print(f"wrote {len(written)} files to {out} (open {out / 'report.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
