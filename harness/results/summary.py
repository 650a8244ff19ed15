"""The short table a run prints at its end: scores, cost, and where the record is."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.results.record import RunResult


def print_summary(record: RunResult, path: Path) -> None:
    console = Console()
    title = f"{record.task} · {record.model} · {record.method} · seed {record.seed} · {record.status}"
    table = Table(title=title, show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    metric = record.primary_metric
    for split in ("dev", "test"):
        value = record.metrics.get(split, {}).get(metric)
        if value is not None:
            table.add_row(f"{split} {metric}", f"{value:.4f}")  # the record's 0-1 scale, not percent
    for stage in record.stages:
        if stage.get("trained") and "optimizer_steps" in stage:
            label = "training" if len(record.stages) == 1 else f"training ({stage['name']})"
            table.add_row(label, f"{stage['train_examples']:,} examples x {stage['epochs']} epochs = {stage['optimizer_steps']:,} steps")
    if record.precision:
        table.add_row("precision", record.precision)
    cost = record.cost
    if cost.total_params:
        share = 100 * cost.trainable_params / cost.total_params
        table.add_row("trainable / total params", f"{cost.trainable_params:,} / {cost.total_params:,} ({share:.3g}%)")
        table.add_row(f"peak memory ({cost.peak_memory_kind})", f"{cost.peak_memory_bytes / 2**20:,.0f} MiB")
        attempts = f", {cost.attempts} attempts" if cost.attempts > 1 else ""
        table.add_row("train time", f"{cost.train_seconds:,.1f} s ({cost.train_tokens_per_second:,.0f} tok/s{attempts})")
        table.add_row("eval time", f"{cost.eval_seconds:,.1f} s ({cost.eval_tokens_per_second:,.0f} tok/s)")
    for warning in record.warnings:
        table.add_row("[bold yellow]warning[/]", warning)
    if record.error:
        first_line = record.error["message"].splitlines()[0] if record.error["message"] else ""
        # escaped: an error message may hold "[/...]" (paths, gloo's messages), which rich reads as markup
        table.add_row("error", escape(f"{record.error['type']}: {first_line}"))
    table.add_row("record", str(path))
    console.print(table)
