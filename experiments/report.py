"""Re-render a run's tables (and, with ``--out``, its plots) from ``config.yaml`` and ``metrics.json``.

Metrics are rewritten atomically after every cell, so this also reports the finished part of
an interrupted run: ``python -m grasp_agent.experiments report runs/<run name>``. Several run directories
of one experiment family (e.g. an SB3 comparison run as two processes, one with
``grasp=null`` and one with ``"algos={}"``, or a horizon sweep run in pieces) are reported as
one table, rows in the order given. A cell that several runs hold (same env, mode, H and
planner for a sweep; same agent and step count for an SB3 comparison; same planner and mode
otherwise) is taken from the *last* run given, so a rerun can replace an earlier piece.

``--out DIR`` writes the joined report to a directory: ``results.md``, ``plots/*.png`` (the
figures the experiment itself draws from its rows) and ``configs/<run name>.yaml``, the
resolved config of every source run, so the published figures keep their provenance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grasp_agent.experiments.config import ConfigError, load_config
from grasp_agent.utils import atomic_text_write

# the columns that name one cell of each family's results
CELL_KEYS = {
    "horizon_sweep": ("env", "mode", "horizon", "planner"),
    "sb3_compare": ("agent", "env_steps"),
    "quickstart": ("planner", "mode"),
    "minigrid": ("planner", "mode"),
    "third_party": ("env", "agent", "env_steps"),
}


def _load(path: Path) -> tuple[Any, list[dict[str, Any]]]:
    if not (path / "config.yaml").exists() or not (path / "metrics.json").exists():
        raise ConfigError(f"{path} is not a run directory (config.yaml and metrics.json expected)")
    cfg = load_config(path / "config.yaml")
    rows = json.loads((path / "metrics.json").read_text())["rows"]
    return cfg, [{k: float("nan") if v is None and k.endswith("_s") else v for k, v in r.items()}
                 for r in rows]


def load_runs(*run_dirs: str | Path) -> tuple[Any, list[dict[str, Any]], int]:
    """Config of the first run, the joined rows, and how many rows a later run replaced.

    Raises:
        ConfigError: no run given, a path that is not a run directory, or runs of different
            experiment families.
    """
    if not run_dirs:
        raise ConfigError("give at least one run directory")
    loaded = [_load(Path(d)) for d in run_dirs]
    cfg = loaded[0][0]
    families = {c.experiment for c, _ in loaded}
    if len(families) > 1:
        raise ConfigError(f"cannot report runs of different experiments together: {sorted(families)}")
    keys = CELL_KEYS[cfg.experiment]
    cells: dict[tuple[Any, ...], dict[str, Any]] = {}
    replaced = 0
    for _, rows in loaded:
        for row in rows:
            key = tuple(row.get(k) for k in keys)
            replaced += key in cells
            cells[key] = row  # keeps the first position, takes the last run's values
    return cfg, list(cells.values()), replaced


def render_rows(cfg: Any, rows: list[dict[str, Any]]) -> str:
    """The results Markdown of one family's rows."""
    if cfg.experiment == "horizon_sweep":
        from grasp_agent.experiments.horizon_sweep import render_results

        return render_results(cfg, rows)
    if cfg.experiment == "sb3_compare":
        from grasp_agent.experiments.sb3_compare import results_markdown

        return results_markdown(cfg, rows)
    if cfg.experiment == "third_party":
        from grasp_agent.experiments.third_party import results_markdown as third_party_markdown

        return third_party_markdown(cfg, rows)
    from grasp_agent.experiments.quickstart import results_table

    return results_table(rows)


def figures(cfg: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures the family's own run draws from its rows: ``{name: matplotlib figure}``."""
    from grasp_agent.experiments import horizon_sweep, minigrid_compare, quickstart, sb3_compare, third_party

    family = {"horizon_sweep": horizon_sweep, "sb3_compare": sb3_compare, "quickstart": quickstart,
              "minigrid": minigrid_compare, "third_party": third_party}[cfg.experiment]
    return family.figures(cfg, rows)


def write_report(out: str | Path, *run_dirs: str | Path) -> Path:
    """Write ``results.md``, ``plots/*.png`` and ``configs/*.yaml`` of the joined runs to ``out``.

    Every file is written atomically; files of an earlier report in ``out`` with the same names
    are replaced, others are left alone. Returns the path of ``results.md``.
    """
    from grasp_agent.experiments.plots import save_png

    cfg, rows, _ = load_runs(*run_dirs)
    out = Path(out)
    sources = []
    for d in map(Path, run_dirs):
        atomic_text_write((d / "config.yaml").read_text(), out / "configs" / f"{d.name}.yaml")
        how = ""
        if cfg.experiment == "horizon_sweep":
            from grasp_agent.experiments.horizon_sweep import protocol

            how = f", {protocol(load_config(d / 'config.yaml'))}"
        sources.append(f"`{d.name}` ([config](configs/{d.name}.yaml){how})")
    for name, fig in figures(cfg, rows).items():
        save_png(fig, out / "plots" / f"{name}.png")
    header = (f"Joined from {len(sources)} run(s), a cell held by several taken from the last:\n\n"
              + "".join(f"- {s}\n" for s in sources) + "\n")
    return atomic_text_write(header + render_rows(cfg, rows), out / "results.md")
