"""Where a running sweep stands: jobs done, failed, remaining, and an ETA.

`harness.run` writes a run's folder under the results directory only when the run ends, so a job
still running shows as remaining; a folder there without a record (``no record``) was interrupted
while being written, or comes from another tool.

The ETA divides the remaining jobs by the observed throughput (finished jobs over the time from
the first start to the last finish), which accounts for jobs running in parallel. Without
timestamps it falls back to the mean run time (train + eval seconds) per remaining job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

from harness.results.collect import Collection


@dataclass
class Progress:
    done: int
    failed: int
    no_record: int  # run folders without a result.json
    broken: int  # unreadable or unscored records
    expected: int | None
    eta_seconds: float

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.broken

    @property
    def remaining(self) -> int | None:
        return None if self.expected is None else max(self.expected - self.finished, 0)

    @property
    def complete(self) -> bool:
        return self.expected is not None and self.finished >= self.expected


def _timestamp(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def progress(collection: Collection, expected: int | None = None) -> Progress:
    broken = sum(1 for run in collection.incomplete if run.has_record)
    no_record = sum(1 for run in collection.incomplete if not run.has_record)
    state = Progress(len(collection.completed), len(collection.failed), no_record, broken, expected, math.nan)
    remaining = state.remaining
    if not remaining:
        state.eta_seconds = 0.0 if remaining == 0 else math.nan
        return state
    starts = [_timestamp(r.started_at) for r in collection.completed]
    finishes = [_timestamp(r.finished_at) for r in collection.completed]
    starts = [s for s in starts if s]
    finishes = [f for f in finishes if f]
    if starts and finishes and max(finishes) > min(starts):
        throughput = len(finishes) / (max(finishes) - min(starts)).total_seconds()
        state.eta_seconds = remaining / throughput
    elif collection.completed:
        durations = [r.cost.train_seconds + r.cost.eval_seconds for r in collection.completed]
        state.eta_seconds = remaining * sum(durations) / len(durations)
    return state


def fmt_duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "unknown"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def progress_line(state: Progress) -> str:
    parts = [f"done {state.done}", f"failed {state.failed}"]
    if state.no_record:
        parts.append(f"no record {state.no_record}")
    if state.broken:
        parts.append(f"broken {state.broken}")
    if state.expected is not None:
        parts.append(f"remaining {state.remaining} of {state.expected}")
        parts.append(f"ETA {fmt_duration(state.eta_seconds)}")
    return ", ".join(parts)
