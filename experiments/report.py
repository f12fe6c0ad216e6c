"""Re-render a run's Markdown tables from its ``config.yaml`` and ``metrics.json``.

Metrics are rewritten atomically after every cell, so this also reports the finished part of
an interrupted run: ``python -m experiments report runs/<run name>``. Several run directories
of one experiment family (e.g. an SB3 comparison run as two processes, one with
``grasp=null`` and one with ``"algos={}"``) are reported as one table, rows in the order given.
"""

from __future__ import annotations

import json
from pathlib import Path

from experiments.config import ConfigError, load_config


def _load(path: Path) -> tuple[object, list[dict]]:
    if not (path / "config.yaml").exists() or not (path / "metrics.json").exists():
        raise ConfigError(f"{path} is not a run directory (config.yaml and metrics.json expected)")
    cfg = load_config(path / "config.yaml")
    rows = json.loads((path / "metrics.json").read_text())["rows"]
    return cfg, [{k: float("nan") if v is None and k.endswith("_s") else v for k, v in r.items()}
                 for r in rows]


def render_run(*run_dirs: str | Path) -> str:
    """The results Markdown of one or more run directories of the same experiment family."""
    if not run_dirs:
        raise ConfigError("give at least one run directory")
    loaded = [_load(Path(d)) for d in run_dirs]
    cfg = loaded[0][0]
    families = {c.experiment for c, _ in loaded}
    if len(families) > 1:
        raise ConfigError(f"cannot report runs of different experiments together: {sorted(families)}")
    rows = [r for _, rs in loaded for r in rs]
    if cfg.experiment == "horizon_sweep":
        from experiments.horizon_sweep import render_results

        return render_results(cfg, rows)
    if cfg.experiment == "sb3_compare":
        from experiments.sb3_compare import results_markdown

        return results_markdown(cfg, rows)
    from experiments.run_dir import markdown_table

    return markdown_table(rows)
