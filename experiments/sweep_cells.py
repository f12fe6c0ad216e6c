"""The cells of a horizon sweep: the unit of work and the store of finished ones.

A *cell* is every task of one ``H`` on one env, planned by one planner in one mode
(:class:`Cell`); :func:`sweep_cells` lists a config's cells in the order of its results and
:class:`CellStore` keeps the finished ones, one JSON file each under ``cells/``, which is what
``--resume`` skips.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from grasp_agent.experiments.run_dir import RunDir
from grasp_agent.experiments.schema import HorizonSweepConfig
from grasp_agent.utils import atomic_text_write


class Cell(NamedTuple):
    """One unit of work: every task of one ``H`` on one env, planned by one planner in one mode."""

    env: str
    mode: str
    horizon: int
    planner: str

    @property
    def file(self) -> str:
        """Its result file, relative to the run directory."""
        return f"cells/{self.env}/{self.mode}-H{self.horizon}-{self.planner}.json"


def sweep_cells(cfg: HorizonSweepConfig) -> list[Cell]:
    """Every cell of ``cfg`` in the order of the results: env, mode (open loop first), H, planner."""
    return [Cell(env_name, mode, h, name) for env_name, case in cfg.envs.items() for mode in cfg.eval.modes
            for h in (case.horizons or cfg.horizons) for name in cfg.planners]


def _plain(value: Any) -> Any:
    """JSON fallback for numpy scalars and arrays."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a cell file")


class CellStore:
    """The finished cells of a run directory, one JSON file each (``cells/<env>/...json``).

    A cell's file is written atomically when it finishes; what is kept in memory is what the
    file reads back (NaN included), so a resumed run merges exactly what a whole run does.
    Rows of a run made before cells had files (``metrics.json`` and ``tasks.csv`` only) are
    turned into cell files when it is resumed.
    """

    def __init__(self, run_dir: RunDir, cells: list[Cell]) -> None:
        self.run_dir, self.cells = run_dir, cells
        self.results: dict[Cell, dict[str, Any]] = {}
        for cell in cells:
            path = run_dir.path / cell.file
            if path.exists():
                self.results[cell] = json.loads(path.read_text())
        legacy = [r for r in run_dir.rows if Cell(r["env"], r["mode"], int(r["horizon"]), r["planner"])
                  not in self.results] if run_dir.resumed else []
        records = run_dir.read_table("tasks") if legacy else []
        for row in legacy:
            cell = Cell(row["env"], row["mode"], int(row["horizon"]), row["planner"])
            mine = [t for t in records if (t["env"], t["mode"], t["horizon"], t["planner"]) ==
                    (cell.env, cell.mode, str(cell.horizon), cell.planner)]
            self.add(cell, {"row": row, "records": mine, "scalars": []})

    def add(self, cell: Cell, result: dict[str, Any]) -> None:
        """Write ``result`` to the cell's file atomically and keep what it reads back."""
        text = json.dumps(result, default=_plain)
        atomic_text_write(text, self.run_dir.path / cell.file)
        self.results[cell] = json.loads(text)

    def merge(self) -> list[dict[str, Any]]:
        """Write ``tasks.csv`` and the metrics from every finished cell, in cell order; the rows."""
        done = [c for c in self.cells if c in self.results]
        self.run_dir.write_table("tasks", [r for c in done for r in self.results[c]["records"]])
        self.run_dir.rows = [self.results[c]["row"] for c in done]
        self.run_dir.write_metrics()
        return self.run_dir.rows
