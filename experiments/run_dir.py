"""One directory per run: resolved config, metrics (JSON + CSV), TensorBoard, plots, results.

Layout of ``<root>/<run name>/``::

    config.yaml      the fully resolved config (re-run it with `python -m grasp_agent.experiments run`)
    metrics.json     {"rows": [...], "summary": {...}} written atomically
    metrics.csv      the same rows, one per line
    scalars.csv      every scalar logged to TensorBoard (series, tag, step, value)
    <name>.csv       extra tables, e.g. tasks.csv with one record per task
    results.md       the Markdown results table(s)
    plots/*.png      matplotlib figures (Agg backend, no display needed)
    tb/<series>/     TensorBoard event files, one sub-run per planner/agent (SB3's key names)

Run names are deterministic: ``<config name>-seed<seed>-<hash of the resolved config>``, so the
same config always maps to the same name; a second run of it gets a ``-2``, ``-3`` suffix
instead of overwriting the first. With ``resume=True`` the existing directory of the same
config is reopened instead: its rows, summary and scalars are loaded, so an experiment that
skips finished work (the horizon sweep) continues where an interrupted run stopped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grasp_agent.experiments.config import ConfigError, dump_yaml, to_dict
from grasp_agent.utils import atomic_json_dump, atomic_text_write

logger = logging.getLogger(__name__)


def config_hash(cfg: Any) -> str:
    """First 8 hex digits of the SHA-256 of the canonical JSON of the resolved config."""
    text = json.dumps(to_dict(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def run_name(cfg: Any) -> str:
    """The deterministic run name ``<name>-seed<seed>-<hash>``."""
    return f"{cfg.name}-seed{cfg.seed}-{config_hash(cfg)}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _jsonable(value.item())
    return value


def rows_to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV text of dict rows; the header is the union of keys in first-seen order."""
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _jsonable(v) for k, v in row.items()})
    return buf.getvalue()


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None,
                   floatfmt: str = ".3g") -> str:
    """A GitHub Markdown table of ``rows`` (``columns`` defaults to the keys of the first row)."""
    if not rows:
        return "(no rows)\n"
    columns = list(columns or rows[0].keys())

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return "-" if math.isnan(v) else format(v, floatfmt)
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


class RunDir:
    """Owns a run's output directory and every writer into it.

    Args:
        root: parent directory of all runs (``runs/`` by default in the CLI).
        cfg: the resolved config dataclass (saved as ``config.yaml``).
        tensorboard: open a ``SummaryWriter`` under ``tb/`` (skipped with a warning if the
            ``tensorboard`` package is missing).
    """

    def __init__(self, root: str | Path, cfg: Any, tensorboard: bool = True, resume: bool = False) -> None:
        self.cfg = cfg
        self.name = run_name(cfg)
        root = Path(root)
        path, k = root / self.name, 1
        self.rows: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {}
        self._scalars: list[tuple[str, str, int, float]] = []
        self.resumed = resume and path.exists()
        if self.resumed:
            self._load(path, dump_yaml(cfg))
        while path.exists() and not self.resumed:
            k += 1
            path = root / f"{self.name}-{k}"
        self.path = path
        (self.path / "plots").mkdir(parents=True, exist_ok=self.resumed)
        atomic_text_write(dump_yaml(cfg), self.path / "config.yaml")
        self._writers: dict[str, Any] = {}
        self._writer_cls = None
        self.tensorboard = False
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning("tensorboard is not installed; skipping TensorBoard logs "
                               "(pip install tensorboard)")
            else:
                self._writer_cls = SummaryWriter
                self.tensorboard = True

    def _load(self, path: Path, config_text: str) -> None:
        """Load rows, summary and scalars of the run at ``path`` (it must hold the same config).

        Raises:
            ConfigError: if ``path/config.yaml`` differs from ``config_text`` (an edited run).
        """
        saved = (path / "config.yaml").read_text() if (path / "config.yaml").exists() else ""
        if saved != config_text:
            raise ConfigError(f"cannot resume {path}: its config.yaml differs from this config; "
                              "start a new run (without --resume) or restore the config")
        metrics = path / "metrics.json"
        data = json.loads(metrics.read_text()) if metrics.exists() else {}
        self.rows = [{k: math.nan if v is None and k.endswith("_s") else v for k, v in r.items()}
                     for r in data.get("rows", [])]
        self.summary = dict(data.get("summary", {}))
        if (path / "scalars.csv").exists():
            with (path / "scalars.csv").open(newline="") as f:
                self._scalars = [(r["series"], r["tag"], int(r["step"]), float(r["value"]))
                                 for r in csv.DictReader(f)]
        logger.info("resuming %s: %d rows already done", path, len(self.rows))

    def read_table(self, name: str) -> list[dict[str, str]]:
        """Rows of ``<name>.csv`` as written by :meth:`write_table` (values as strings)."""
        path = self.path / f"{name}.csv"
        if not path.exists() or path.stat().st_size == 0:
            return []
        with path.open(newline="") as f:
            return list(csv.DictReader(f))

    def _writer(self, series: str) -> Any:
        """The TensorBoard writer of ``series`` (a sub-run such as a planner name), or None."""
        if self._writer_cls is None:
            return None
        if series not in self._writers:
            log_dir = self.path / "tb" / series if series else self.path / "tb"
            self._writers[series] = self._writer_cls(log_dir=str(log_dir))
        return self._writers[series]

    # ------------------------------------------------------------------ scalars and rows
    def log_scalar(self, tag: str, value: float, step: int, series: str = "") -> None:
        """Log one scalar to TensorBoard and ``scalars.csv``.

        Args:
            tag: namespaced key, SB3's names where they overlap (``eval/success_rate``,
                ``rollout/ep_rew_mean``, ``time/fps``) and ``plan/...``, ``train/...``.
            series: a sub-run (``tb/<series>/``, e.g. the planner name), so that the same tag
                of several planners overlays in one TensorBoard chart.
        """
        value = float(value)
        self._scalars.append((series, tag, int(step), value))
        writer = self._writer(series)
        if writer is not None:
            writer.add_scalar(tag, value, int(step))

    def log_text(self, tag: str, text: str) -> None:
        """Log Markdown text (e.g. a results table) to TensorBoard."""
        writer = self._writer("")
        if writer is not None:
            writer.add_text(tag, text)

    def write_table(self, name: str, rows: Sequence[dict[str, Any]]) -> Path:
        """Write extra rows (e.g. per-task records) as ``<name>.csv`` atomically."""
        return atomic_text_write(rows_to_csv(rows) if rows else "", self.path / f"{name}.csv")

    def add_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append metric rows and rewrite ``metrics.json`` / ``metrics.csv`` atomically."""
        self.rows.extend(dict(r) for r in rows)
        self.write_metrics()

    def write_metrics(self) -> None:
        """Write ``metrics.json``, ``metrics.csv`` and ``scalars.csv`` atomically."""
        atomic_json_dump(_jsonable({"run": self.name, "rows": self.rows, "summary": self.summary}),
                         self.path / "metrics.json")
        atomic_text_write(rows_to_csv(self.rows) if self.rows else "", self.path / "metrics.csv")
        scalars = [{"series": r, "tag": t, "step": s, "value": v} for r, t, s, v in self._scalars]
        atomic_text_write(rows_to_csv(scalars) if scalars else "series,tag,step,value\n",
                          self.path / "scalars.csv")

    # ------------------------------------------------------------------ documents
    def write_results(self, markdown: str) -> Path:
        """Write ``results.md`` atomically and mirror it to TensorBoard text."""
        self.log_text("results", markdown)
        return atomic_text_write(markdown, self.path / "results.md")

    def save_figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure as ``plots/<name>.png`` atomically and close it."""
        from grasp_agent.experiments.plots import save_png

        return save_png(fig, self.path / "plots" / f"{name}.png")

    def close(self) -> None:
        """Flush metrics and close TensorBoard."""
        self.write_metrics()
        for writer in self._writers.values():
            writer.flush()
            writer.close()
        self._writers.clear()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
