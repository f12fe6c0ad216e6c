"""A world model's evaluation report: one-step and H-step open-loop errors, divergence counts, splits.

:func:`evaluate_world_model` rolls the model out open-loop from the first (encoded) observation
of windows of ``H`` steps drawn from held-out episodes and compares step ``H`` with the encoded
observation there, for every ``H`` of ``horizons`` (``H = 1`` is the one-step error). A rollout
*diverges* when any of its steps is non-finite or its error exceeds ``divergence_threshold``
times the latent variance; divergent windows are counted and left out of the means (the median
keeps them). ``split_fn`` splits the windows into groups, e.g. ``"touches"``: windows in which
some step touched an obstacle (``contact``) versus the others (``no_contact``).
:func:`write_model_report` writes the report as JSON and markdown and plots the error against
``H``. Ensembles also get their mean disagreement along the rollouts. ``train_from_env`` and
the experiments write it after training, on the trainer's held-out episodes
(``run_dir/model_report.*``); by hand::

    from grasp_agent.training.report import evaluate_world_model, write_model_report

    report = evaluate_world_model(model, test_buffer, horizons=(1, 10, 50, 100), split_fn="touches")
    write_model_report(report, run_dir / "model_report")   # report.json, report.md, report.png
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grasp_agent.data.buffer import ReplayBuffer
from grasp_agent.models.base import WorldModel, check_world_model
from grasp_agent.training.metrics import encode_sequences
from grasp_agent.utils import atomic_json_dump, atomic_text_write, atomic_write

logger = logging.getLogger(__name__)

#: ``windows (dict of arrays, see ReplayBuffer.gather) -> {group name: (N,) bool mask}``
SplitFn = Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]
Episodes = ReplayBuffer | Iterable[Mapping[str, Any]]
_MIN_VAR = 1e-12
_VAR_SAMPLES = 50_000


def split_by_touches(windows: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``contact``: some step of the window touched an obstacle (``touches (N, H)``); ``no_contact``."""
    touched = np.asarray(windows["touches"], bool).any(-1)
    return {"contact": touched, "no_contact": ~touched}


SPLITS: dict[str, SplitFn] = {"touches": split_by_touches}


def _as_buffer(data: Episodes) -> ReplayBuffer:
    """``data`` itself, or a buffer of episodes ``{"obs": (T+1, ...), "actions": (T, A), "touches"?}``."""
    if isinstance(data, ReplayBuffer):
        return data
    episodes = list(data)
    if not episodes or not all(isinstance(ep, Mapping) and {"obs", "actions"} <= set(ep) for ep in episodes):
        raise TypeError("data must be a ReplayBuffer or a non-empty list of episodes, dicts with 'obs' "
                        "(T + 1, *obs_shape), 'actions' (T, A) and optionally 'touches' (T,)")
    obs0, act0 = np.asarray(episodes[0]["obs"]), np.asarray(episodes[0]["actions"])
    buf = ReplayBuffer(sum(len(ep["obs"]) for ep in episodes), obs0.shape[1:], act0.shape[-1],
                       obs_dtype=obs0.dtype)
    for ep in episodes:
        buf.add_episode(ep["obs"], ep["actions"], touches=ep.get("touches"))
    return buf


def _latent_var(model: WorldModel, buf: ReplayBuffer, episodes: Any, rng: np.random.Generator,
                chunk: int) -> float:
    """Mean per-dimension variance of the encoded observations (up to 50k rows) of ``episodes``."""
    rows = buf.valid_starts(1, 1, episodes)
    if len(rows) > _VAR_SAMPLES:
        rows = np.sort(rng.choice(rows, _VAR_SAMPLES, replace=False))
    z = torch.cat([model.encode(torch.as_tensor(buf.obs[rows[i:i + chunk]], device=model.device)).cpu()
                   for i in range(0, len(rows), chunk)])
    return max(float(z.var(0, unbiased=False).mean()), _MIN_VAR)


def _rollout_errors(model: WorldModel, windows: Mapping[str, np.ndarray], chunk: int
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """Squared latent error ``(N, H)`` of the open-loop rollout of every window (inf where not
    finite) and, for models with ``disagreement``, its mean along the rollout ``(N,)``."""
    errs, disagree = [], []
    has_disagreement = callable(getattr(model, "disagreement", None))
    for i in range(0, len(windows["obs"]), chunk):
        z = encode_sequences(model, torch.as_tensor(windows["obs"][i:i + chunk], device=model.device))
        actions = torch.as_tensor(windows["actions"][i:i + chunk], dtype=torch.float32, device=model.device)
        pred = model.rollout(z[:, 0], actions)
        err = ((pred - z[:, 1:]) ** 2).mean(-1).cpu()
        errs.append(torch.where(torch.isfinite(err), err, torch.full_like(err, math.inf)))
        if has_disagreement:
            inputs = torch.cat([z[:, :1], pred[:, :-1]], dim=1)  # the states the rollout stepped from
            disagree.append(model.disagreement(inputs, actions).mean(-1).cpu())
    return torch.cat(errs).numpy(), (torch.cat(disagree).numpy() if has_disagreement else None)


def _checked_masks(masks: Any, n: int) -> dict[str, np.ndarray]:
    """``split_fn``'s output as ``{str: (n,) bool}``, or a ValueError that says what is wrong."""
    if not isinstance(masks, Mapping):
        raise ValueError(f"split_fn must return a dict {{group: (N,) bool mask}}, got {type(masks).__name__}")
    out = {str(k): np.asarray(v, bool) for k, v in masks.items()}
    for name, mask in out.items():
        if mask.shape != (n,):
            raise ValueError(f"split_fn's mask {name!r} has shape {mask.shape}, not ({n},) (one per window)")
    return out


def _stats(final: np.ndarray, diverged: np.ndarray, var: float, disagree: np.ndarray | None
           ) -> dict[str, Any]:
    """Counts and errors of one group at one horizon (NaN where there is nothing to average)."""
    kept = final[~diverged]
    mse = float(kept.mean()) if len(kept) else math.nan
    out = {"windows": int(len(final)), "diverged": int(diverged.sum()), "mse": mse, "nmse": mse / var,
           "median_nmse": float(np.median(final)) / var if len(final) else math.nan}
    if disagree is not None:
        finite = disagree[np.isfinite(disagree)]
        out["disagreement"] = float(finite.mean()) if len(finite) else math.nan
    return out


@torch.no_grad()
def evaluate_world_model(model: WorldModel, data: Episodes, horizons: Sequence[int] = (1, 10, 50, 100),
                         split_fn: SplitFn | str | None = None, *, episodes: Sequence[int] | None = None,
                         max_windows: int = 1000, divergence_threshold: float = 1e3, action_block: int = 1,
                         seed: int = 0, chunk: int = 512, latent_var: float | None = None) -> dict[str, Any]:
    """One-step and H-step open-loop latent errors of ``model`` on held-out episodes.

    Args:
        model: any :class:`~grasp_agent.WorldModel` (evaluated in eval mode, restored after).
        data: a :class:`~grasp_agent.data.ReplayBuffer`, or episodes: dicts with ``obs``
            ``(T + 1, *obs_shape)``, ``actions`` ``(T, A)`` and optionally ``touches`` ``(T,)``.
        horizons: the ``H`` to report, ints ``>= 1`` (``1``: the one-step error).
        split_fn: ``None``, ``"touches"`` (:func:`split_by_touches`) or a function of the
            windows (``obs (N, H+1, ...)``, ``actions (N, H, A)``, ``touches (N, H)``, ...) that
            returns ``{group: (N,) bool mask}``.
        episodes: episode ids of a buffer to evaluate on (default: all of them).
        max_windows: windows per horizon at most (a seeded uniform subset of all of them).
        divergence_threshold: a rollout whose error exceeds this many latent variances at any
            step (or is not finite) counts as diverged.
        action_block: env actions per model step.
        seed: seeds the choice of windows.
        latent_var: the normaliser of ``nmse`` and of the divergence test; ``None`` (default):
            the variance of ``data``'s encoded observations. Pass another report's
            ``latent_var`` to put errors on different data on one scale (a planner's narrow
            episodes have a small variance of their own).

    Returns:
        ``{"model", "latent_var", "divergence_threshold", "horizons", "groups"}`` where
        ``groups[name][str(H)]`` has ``windows``, ``diverged``, ``mse`` and ``nmse`` (mean over
        the windows that did not diverge, raw and divided by ``latent_var``) and
        ``median_nmse`` (over all windows), and for models with ``disagreement(z, a)`` (an
        :class:`~grasp_agent.models.EnsembleWorldModel`) ``disagreement``, its mean along the
        rollouts; the group ``"all"`` holds every window. A horizon longer than every episode
        has 0 windows and NaN errors.

    Raises:
        ValueError: bad horizons, ``max_windows``, threshold or ``split_fn`` name, or no data.
    """
    model = check_world_model(model)
    hs = list(horizons)
    if not hs or not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1 for h in hs):
        raise ValueError(f"horizons must be a non-empty sequence of ints >= 1, got {horizons!r}")
    hs = [int(h) for h in hs]
    if max_windows < 1 or not 0 < divergence_threshold < math.inf:
        raise ValueError(f"max_windows must be >= 1 and divergence_threshold a positive finite number, got "
                         f"{max_windows}, {divergence_threshold}")
    if latent_var is not None and not 0 < latent_var < math.inf:
        raise ValueError(f"latent_var must be a positive finite number or None, got {latent_var!r}")
    if isinstance(split_fn, str):
        if split_fn not in SPLITS:
            raise ValueError(f"unknown split {split_fn!r}; choose from {sorted(SPLITS)} or pass a function")
        split_fn = SPLITS[split_fn]
    buf = _as_buffer(data)
    if len(buf.valid_starts(1, action_block, episodes)) == 0:
        raise ValueError("no transitions to evaluate on: the data (or the chosen episodes) are empty")
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    try:
        var = _latent_var(model, buf, episodes, rng, chunk) if latent_var is None else float(latent_var)
        groups: dict[str, dict[str, Any]] = {"all": {}}
        for h in hs:
            starts = buf.valid_starts(h, action_block, episodes)
            if len(starts) > max_windows:
                starts = np.sort(rng.choice(starts, max_windows, replace=False))
            windows = buf.gather(starts, h, action_block) if len(starts) else None
            if windows is not None:
                err, disagree = _rollout_errors(model, windows, chunk)
            else:
                err, disagree = np.zeros((0, h)), None
            final, diverged = err[:, -1], (err > divergence_threshold * var).any(-1)
            masks = {"all": np.ones(len(final), bool)}
            if split_fn is not None and windows is not None:
                masks.update(_checked_masks(split_fn(windows), len(final)))
            for name in [*groups, *(n for n in masks if n not in groups)]:
                mask = masks.get(name, np.zeros(len(final), bool))
                groups.setdefault(name, {})[str(h)] = _stats(final[mask], diverged[mask], var,
                                                             None if disagree is None else disagree[mask])
    finally:
        model.train(was_training)
    report = {"model": type(model).__name__, "latent_var": var, "divergence_threshold": divergence_threshold,
              "horizons": hs, "groups": groups}
    logger.info("model report:\n%s", format_model_report(report))
    return report


def format_model_report(report: Mapping[str, Any]) -> str:
    """The report as a markdown table: one row per group and horizon."""
    cols = ["windows", "diverged", "mse", "nmse", "median_nmse"]
    if any("disagreement" in s for by_h in report["groups"].values() for s in by_h.values()):
        cols.append("disagreement")
    lines = [f"Open-loop latent error of {report['model']} (nmse: divided by the latent variance "
             f"{report['latent_var']:.4g}; diverged: non-finite or above "
             f"{report['divergence_threshold']:g} x the variance).", "",
             "| group | H | " + " | ".join(c.replace("_", " ") for c in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for name, by_h in report["groups"].items():
        for h in report["horizons"]:
            s = by_h.get(str(h))
            if s is not None:
                cells = [f"{s[c]:.4g}" if isinstance(s.get(c), float) else str(s.get(c, "")) for c in cols]
                lines.append(f"| {name} | {h} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plain(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats become ``None``."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_model_report(report: Mapping[str, Any], directory: str | os.PathLike,
                       name: str = "report") -> dict[str, Path]:
    """Write ``name.json``, ``name.md`` and (with matplotlib) ``name.png`` into ``directory``.

    Every file is written atomically. The plot shows the nmse (divergent windows left out)
    against ``H`` per group, on log axes. Returns ``{"json", "md"[, "png"]}`` -> paths.
    """
    out = Path(directory)
    paths = {"json": atomic_json_dump(_plain(report), out / f"{name}.json"),
             "md": atomic_text_write(format_model_report(report), out / f"{name}.md")}
    try:
        from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone
    except ImportError:
        logger.warning("matplotlib is not installed (extra 'plots'): %s.png not written", name)
        return paths
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    for group, by_h in report["groups"].items():
        points = [(h, by_h[str(h)]["nmse"]) for h in report["horizons"]
                  if str(h) in by_h and math.isfinite(by_h[str(h)]["nmse"]) and by_h[str(h)]["nmse"] > 0]
        if points:
            ax.plot(*zip(*points), marker="o", label=group)
    ax.set(xscale="log", yscale="log", xlabel="open-loop steps H", ylabel="latent nmse at step H",
           title=f"{report['model']}: error vs horizon")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    paths["png"] = atomic_write(out / f"{name}.png", lambda p: fig.savefig(p, format="png", dpi=100))
    return paths
