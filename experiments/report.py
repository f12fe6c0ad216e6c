"""Re-render a run's Markdown tables from its ``config.yaml`` and ``metrics.json``.

Metrics are rewritten atomically after every cell, so this also reports the finished part of
an interrupted run: ``python -m experiments report runs/<run name>``.
"""

from __future__ import annotations

import json
from pathlib import Path

from experiments.config import ConfigError, load_config


def render_run(run_dir: str | Path) -> str:
    """The results Markdown of ``run_dir`` (horizon sweeps: paper-style tables and details)."""
    path = Path(run_dir)
    if not (path / "config.yaml").exists() or not (path / "metrics.json").exists():
        raise ConfigError(f"{path} is not a run directory (config.yaml and metrics.json expected)")
    cfg = load_config(path / "config.yaml")
    rows = json.loads((path / "metrics.json").read_text())["rows"]
    rows = [{k: float("nan") if v is None and k.endswith("_s") else v for k, v in r.items()} for r in rows]
    if cfg.experiment == "horizon_sweep":
        from experiments.horizon_sweep import render_results

        return render_results(cfg, rows)
    from experiments.run_dir import markdown_table

    return markdown_table(rows)
