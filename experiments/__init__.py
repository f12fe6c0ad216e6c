"""Experiments: versioned YAML configs and one runner (``python -m grasp_agent.experiments run <config>``).

See :mod:`grasp_agent.experiments.config` (loading, overrides, validation),
:mod:`grasp_agent.experiments.runner` and :mod:`grasp_agent.experiments.run_dir` (outputs of a run).
"""
