"""What in-context demonstrations a run showed: per split and example the train ids shown and how
many were dropped for length (`DemonstrationLog`, filled by `demonstrations.DemonstratedPrompts`),
their totals in each split's scores, and the record's warning when any were dropped
(`dropped_for_length`)."""

from __future__ import annotations

from typing import Any


class DemonstrationLog:
    """Per split and example: the train ids shown (prompt order) and how many were dropped for length."""

    def __init__(self) -> None:
        self.shown: dict[str, list[list[str]]] = {}
        self.dropped: dict[str, list[int]] = {}

    def add(self, split: str, shown_ids: list[str], dropped: int) -> None:
        self.shown.setdefault(split, []).append(shown_ids)
        self.dropped.setdefault(split, []).append(dropped)

    def scores(self, split: str, indices=None) -> dict[str, float]:
        """``demonstrations_shown_mean`` and ``demonstrations_dropped`` (a total) over the split's
        examples (those in ``indices`` when given); dev's also carry the train split's, ``train_``-prefixed."""
        fields = self._counts(split, indices)
        if split == "dev":
            fields.update({f"train_{name}": value for name, value in self._counts("train").items()})
        return fields

    def _counts(self, split: str, indices=None) -> dict[str, float]:
        if split not in self.shown:
            return {}
        chosen = range(len(self.shown[split])) if indices is None else list(indices)
        if not chosen:
            return {}
        return {
            "demonstrations_shown_mean": sum(len(self.shown[split][i]) for i in chosen) / len(chosen),
            "demonstrations_dropped": sum(self.dropped[split][i] for i in chosen),
        }

    def row(self, split: str, index: int) -> dict[str, list[str]]:
        return {"demonstrations": list(self.shown[split][index])} if split in self.shown else {}


def dropped_for_length(metrics: dict[str, dict[str, Any]]) -> list[str]:
    """One warning per split whose prompts dropped demonstrations for length, read from a record's
    ``metrics`` (dev's ``train_``-prefixed counts are the train split's): the counts are recorded
    either way, but a run asked for k demonstrations that showed fewer must say so where its
    summary is read, not only deep in the scores."""
    dev = metrics.get("dev", {})
    warnings = []
    for split, prefix, scores in [("train", "train_", dev), ("dev", "", dev), ("test", "", metrics.get("test", {}))]:
        dropped = scores.get(f"{prefix}demonstrations_dropped", 0)
        if dropped:
            shown = scores.get(f"{prefix}demonstrations_shown_mean", float("nan"))
            warnings.append(
                f"{split}: {dropped:,.0f} demonstrations dropped for length ({shown:.2f} shown per prompt); "
                "raise trainer.max_length to show every one asked for"
            )
    return warnings
