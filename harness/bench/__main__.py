"""`python -m harness.bench NAME [options]`, NAME one of BENCHMARKS; `--help` on each for its options."""

from __future__ import annotations

import sys

from harness.bench import (
    bidir, generation, lofit, loss_tail, multiple_choice, overhead, padding, precision, prefix_cost, ptec, sift,
)

BENCHMARKS = {
    "overhead": overhead.main,
    "padding": padding.main,
    "bidir": bidir.main,
    "generation": generation.main,
    "multiple_choice": multiple_choice.main,
    "precision": precision.main,
    "lofit": lofit.main,
    "prefix_cost": prefix_cost.main,
    "ptec": ptec.main,
    "sift": sift.main,
    "loss_tail": loss_tail.main,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m harness.bench {{{'|'.join(BENCHMARKS)}}} [options]", file=sys.stderr)
        return 2
    return BENCHMARKS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
