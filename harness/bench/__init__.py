"""Benchmarks: `python -m harness.bench <name>`. Each prints ratios measured side by side in one run."""
