"""Benchmark scripts that print figures (``python -m grasp_agent.experiments.benchmarks.<name>``)."""
