"""Benchmark harness for comparing adaptation methods of language models."""
