"""Experiments: versioned YAML configs and one runner (``python -m experiments run <config>``).

See :mod:`experiments.config` (loading, overrides, validation), :mod:`experiments.runner`
and :mod:`experiments.run_dir` (outputs of a run).
"""
