"""Where the cells of a sweep run: in this process (the default) or as Ray tasks.

A backend gets a :class:`SweepPlan` (the world models to train, the cells to run) and two
plain functions, ``train(cfg, env_name, checkpoint_path, progress) -> (checkpoint, scalars)``
and ``cell(cfg, cell, checkpoint, tasks, progress) -> result``, and calls ``on_model`` /
``on_cell`` in this (the driver) process as each one finishes; the driver writes every file of
the run directory, so the results do not depend on the backend.

* :class:`InProcessBackend` runs env by env: train the env's model, then its cells in order.
* :class:`RayBackend` submits every training and every cell as a Ray task at once: a cell takes
  its env's checkpoint as an argument, so Ray starts it once that model is trained (each model
  is trained once, by one task, and reaches the cells through the object store). Ray does all
  the scheduling; a cell asks for ``cfg.threads`` CPUs and, on a cluster with GPUs and a config
  with ``device: auto`` or ``cuda``, a share of a GPU (``device: auto`` then picks it inside
  the task).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

BACKENDS = ("inprocess", "ray")
RAY_INSTALL_HINT = "pip install 'grasp-agent[ray]'"
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 ** 2  # the sweep ships checkpoints and task lists: a few MB
CONNECT_TIMEOUT_S = 5.0
TRAIN_GPUS = 1.0  # a training task gets a whole GPU ...
CELL_GPUS = 0.25  # ... four planning cells share one (small models: the GPU is not their bottleneck)
WAIT_POLL_S = 1.0  # ray.wait timeout, so that Ctrl-C reaches the driver promptly

TrainFn = Callable[..., tuple[dict[str, Any], list]]  # (cfg, env, checkpoint path, progress)
CellFn = Callable[..., dict[str, Any]]  # (cfg, cell, checkpoint, tasks, progress)


class BackendError(RuntimeError):
    """The backend cannot run: Ray is missing, the cluster is unreachable, or a bad option."""


@dataclass
class SweepPlan:
    """The work left in a sweep.

    Attributes:
        cfg: the resolved experiment config (shipped once to every task).
        models: env name -> its saved checkpoint dict, or ``None`` when it must be trained.
        train_checkpoints: env name -> path of its resumable per-epoch training state.
        cells: ``(cell, tasks)`` in the deterministic cell order; ``cell`` has ``env`` and
            ``horizon`` attributes, cells of one ``(env, horizon)`` share one task list.
    """

    cfg: Any
    models: dict[str, dict[str, Any] | None]
    train_checkpoints: dict[str, str]
    cells: list[tuple[Any, list]]


class InProcessBackend:
    """Runs the plan here, env by env: train (if needed), then every cell of that env in order."""

    name = "inprocess"

    def run(self, plan: SweepPlan, train: TrainFn, cell_fn: CellFn,
            on_model: Callable[..., None], on_cell: Callable[..., None]) -> None:
        """Run ``plan``; ``on_model(env, checkpoint, scalars)`` / ``on_cell(cell, result)`` as they finish."""
        cfg, checkpoints = plan.cfg, dict(plan.models)
        for cell, tasks in plan.cells:
            if checkpoints[cell.env] is None:
                ckpt, scalars = train(cfg, cell.env, plan.train_checkpoints[cell.env], cfg.progress)
                on_model(cell.env, ckpt, scalars)
                checkpoints[cell.env] = ckpt
            on_cell(cell, cell_fn(cfg, cell, checkpoints[cell.env], tasks, cfg.progress))


def import_ray() -> Any:
    """``import ray``, or a :class:`BackendError` that names the extra to install."""
    try:
        import ray
    except ImportError as err:
        raise BackendError(f"--backend ray needs Ray, which is not installed: {RAY_INSTALL_HINT} "
                           f"(or pip install 'ray>=2.9'); ({err})") from err
    return ray


def check_reachable(address: str) -> None:
    """Fail in seconds when nothing listens at ``address`` (``HOST:PORT`` or ``ray://HOST:PORT``).

    ``ray.init`` would otherwise retry for 30 s (Ray Client) or minutes (a GCS address).
    ``"auto"`` is left to ``ray.init``, which fails at once when no local cluster runs.

    Raises:
        BackendError: for a malformed address or a host/port that refuses the connection.
    """
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise BackendError(f"--address {address!r}: expected 'auto', HOST:PORT (a GCS address, on a "
                           "cluster node) or ray://HOST:PORT (Ray Client, port 10001 by default)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise BackendError(
            f"cannot reach a Ray cluster at {address!r} ({err}). Start one with `ray start --head` on "
            "the head node and pass its address (ray://HEAD:10001 from another machine, HEAD:6379 or "
            "'auto' on a cluster node), check the host, port and firewall, or leave --address out "
            "to start a local Ray instance on this machine") from err


class RayBackend:
    """Runs the plan as Ray tasks, on a local Ray instance or on the cluster at ``address``.

    Args:
        address: ``None`` starts a local instance (stopped again afterwards); ``"auto"``,
            ``HOST:PORT`` or ``ray://HOST:PORT`` joins a running cluster. When Ray is already
            initialised in this process (a notebook, a test), that session is used as it is.
        num_cpus: CPUs of the local instance (default: all of this machine's).

    Raises:
        BackendError: at construction, when Ray is not installed, the address is unreachable,
            or ``num_cpus`` is given with an address (a cluster's size is set on its nodes).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        if num_cpus is not None and num_cpus < 1:
            raise BackendError(f"--num-cpus must be at least 1, got {num_cpus}")
        if address is not None and num_cpus is not None:
            raise BackendError("--num-cpus sizes a local Ray instance; a cluster's CPUs are set on its "
                               "nodes (`ray start --num-cpus N`): drop --num-cpus or --address")
        self.ray = import_ray()
        if address is not None:
            check_reachable(address)
        self.address, self.num_cpus = address, num_cpus

    def _connect(self) -> bool:
        """Initialise Ray (unless it already is); True when this call started it."""
        ray = self.ray
        if ray.is_initialized():
            logger.info("using the Ray session already initialised in this process")
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports leave the machine
        try:
            if self.address is None:
                ray.init(address="local", num_cpus=self.num_cpus, include_dashboard=False,
                         object_store_memory=LOCAL_OBJECT_STORE_BYTES)
            else:
                ray.init(address=self.address)
        except (ConnectionError, TimeoutError) as err:
            where = "start a local Ray instance" if self.address is None else f"join {self.address!r}"
            raise BackendError(f"could not {where}: {err}") from err
        return True

    def resources(self, cfg: Any) -> tuple[dict[str, float], dict[str, float]]:
        """Ray resource requests ``(training, cell)`` for ``cfg`` on the connected cluster.

        Raises:
            BackendError: ``device: cuda`` on a cluster without GPUs, or ``threads`` above the
                cluster's CPUs (Ray would wait forever for such a task).
        """
        total = self.ray.cluster_resources()
        gpus, cpus = float(total.get("GPU", 0.0)), float(max(1, cfg.threads))
        if cpus > total.get("CPU", 0.0):
            raise BackendError(f"threads: {cfg.threads} (CPUs per task) but the Ray cluster has "
                               f"{total.get('CPU', 0.0):g} CPUs; lower threads or add CPUs (--num-cpus)")
        device = str(cfg.device)
        if device.startswith("cuda") and gpus == 0:
            raise BackendError(f"device: {device} but the Ray cluster has no GPUs; use device=auto "
                               "(the GPU where there is one) or device=cpu")
        use_gpu = gpus > 0 and (device == "auto" or device.startswith("cuda"))
        return ({"num_cpus": cpus, "num_gpus": TRAIN_GPUS if use_gpu else 0.0},
                {"num_cpus": cpus, "num_gpus": CELL_GPUS if use_gpu else 0.0})

    def run(self, plan: SweepPlan, train: TrainFn, cell_fn: CellFn,
            on_model: Callable[..., None], on_cell: Callable[..., None]) -> None:
        """Submit every training and cell task, then hand results to the callbacks as they finish.

        On an error or an interrupt, the tasks still pending are cancelled (finished cells were
        already handed to ``on_cell``) and a Ray instance started here is shut down.
        """
        ray = self.ray
        started = self._connect()
        pending: dict[Any, tuple[str, Any]] = {}
        try:
            train_res, cell_res = self.resources(plan.cfg)
            logger.info("Ray: %d cells, %d models to train, on %s; per task %s (training %s)",
                        len(plan.cells), sum(v is None for v in plan.models.values()),
                        ray.cluster_resources(), cell_res, train_res)
            cfg_ref = ray.put(plan.cfg)
            train_task = ray.remote(train).options(num_returns=2, **train_res)
            cell_task = ray.remote(cell_fn).options(**cell_res)
            models = {}
            for env_name, ckpt in plan.models.items():
                if ckpt is None:
                    ckpt_ref, scalars_ref = train_task.remote(cfg_ref, env_name,
                                                              plan.train_checkpoints[env_name], False)
                    pending[scalars_ref] = ("model", (env_name, ckpt_ref))
                    models[env_name] = ckpt_ref
                else:
                    models[env_name] = ray.put(ckpt)
            task_refs: dict[tuple[str, int], Any] = {}
            for cell, tasks in plan.cells:
                key = (cell.env, cell.horizon)
                if key not in task_refs:
                    task_refs[key] = ray.put(tasks)
                ref = cell_task.remote(cfg_ref, cell, models[cell.env], task_refs[key], False)
                pending[ref] = ("cell", cell)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_POLL_S)
                for ref in ready:
                    kind, what = pending.pop(ref)
                    if kind == "model":
                        env_name, ckpt_ref = what
                        on_model(env_name, self._get(ckpt_ref), self._get(ref))
                    else:
                        on_cell(what, self._get(ref))
        except BaseException:
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001  (already finished or gone: nothing to cancel)
                    logger.debug("could not cancel %s", ref, exc_info=True)
            raise
        finally:
            if started:
                ray.shutdown()

    def _get(self, ref: Any) -> Any:
        """``ray.get(ref)``; a task's own exception is re-raised as that exception's type."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as err:
            raise err.as_instanceof_cause() from None


def make_backend(name: str = "inprocess", address: str | None = None,
                 num_cpus: int | None = None) -> InProcessBackend | RayBackend:
    """The backend ``name`` (one of :data:`BACKENDS`); cheap checks (Ray installed, address
    reachable) run here, before any run directory is created.

    Raises:
        BackendError: an unknown name, Ray options without ``name="ray"``, or a failed check.
    """
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {list(BACKENDS)}")
    if name == "inprocess":
        if address is not None or num_cpus is not None:
            raise BackendError("--address and --num-cpus are options of --backend ray")
        return InProcessBackend()
    return RayBackend(address, num_cpus)
