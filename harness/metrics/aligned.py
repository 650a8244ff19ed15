"""The input check both tag metrics share: each predicted sentence is as long as its gold one."""

from __future__ import annotations

from collections.abc import Sequence


def check_aligned(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]
) -> None:
    """Raise ValueError naming the first sentence whose predicted and gold tag counts differ.

    A silent zip would score a truncated prediction as if the missing tokens did not exist.
    """
    if len(predictions) != len(references):
        raise ValueError(
            f"got {len(predictions)} predicted sentences but {len(references)} reference sentences"
        )
    for index, (predicted, gold) in enumerate(zip(predictions, references)):
        if len(predicted) != len(gold):
            raise ValueError(
                f"sentence {index}: {len(predicted)} predicted tags but {len(gold)} reference tags"
            )
