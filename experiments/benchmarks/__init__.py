"""Benchmark scripts that print figures (``python -m experiments.benchmarks.<name>``)."""
