"""The configuration of :class:`~grasp_agent.planners.grasp.GRASPPlanner` and its named presets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from grasp_agent.validation import SEED_RANGE, ranged


@dataclass
class GRASPConfig:
    """Hyperparameters of :class:`GRASPPlanner` (defaults: the author's code, see docs/algorithm.md).

    Attributes:
        iterations: lifted iterations.
        lr_s: Adam learning rate of the virtual states.
        lr_a: Adam learning rate of the (unit, ``[-1, 1]``) actions.
        sigma: std of the Gaussian noise added to the virtual states after each update.
        sigma_final: end value of ``sigma`` within each sync phase when
            ``noise_schedule="linear"``.
        noise_schedule: ``"constant"`` (paper) or ``"linear"`` anneal inside each sync phase.
        gamma: weight of the dense goal term.
        gamma_final: end value of ``gamma`` within each sync phase when
            ``gamma_schedule="linear"``.
        gamma_schedule: ``"constant"`` or ``"linear"``.
        sync_every: K_sync, lifted iterations between syncs with the real rollout.
        sync_steps: J_sync, shooting-gradient steps (or CEM iterations) per sync.
        sync_lr: Adam learning rate of the gradient sync and of the polish (unit actions).
        sync_mode: ``"gd"`` (gradient sync) or ``"cem"`` (CEM refinement sync).
        cem_sync_samples: samples per CEM-sync iteration.
        cem_sync_elites: elites per CEM-sync iteration.
        cem_sync_gap_scale: CEM-sync std per step = scale * gap_t + floor, where gap_t is the
            RMS distance between virtual state ``s_{t+1}`` and the rolled-out state.
        cem_sync_std_floor: the floor of that std (unit action scale).
        init_state_noise: std of Gaussian noise added to the straight-line initialisation.
        use_noise: ablation switch: ``False`` disables the state noise.
        stop_gradient: ablation switch: ``False`` lets gradients flow through the state input.
        use_sync: ablation switch: ``False`` disables the periodic sync.
        use_goal_term: ablation switch: ``False`` drops the dense goal term.
        keep_best: return the actions with the lowest full-rollout cost seen at the syncs and
            at the end, instead of the final ones (the paper returns the final ones).
        keep_warm_start: with ``keep_best``, the warm start (MPC: the rest of the last plan) is
            a candidate too (one more rollout), so a replan is never worse under the model than
            keeping the last plan.
        init: ``"line"`` (the paper): virtual states on the straight line to the goal latent (on
            the rollout of the initial actions without one), actions from the warm start or
            zero. ``"icem"``: first a short iCEM search (colored-noise CEM, ``icem_iterations``
            rounds of ``icem_samples`` samples, iCEM's other defaults) from the warm start;
            the lifted phase then starts from its plan, virtual states on its rollout. With
            ``keep_best`` that plan stays a candidate, so the result is never worse under the
            model than the search's. ``"graph"``: virtual states evenly spaced along the
            shortest path, in the planner's :class:`~grasp_agent.planners.state_graph.StateGraph`
            (``planner.state_graph``: a graph over the latents of the training data), from the
            start to the node of least terminal cost (then to the goal latent); actions from the
            warm start or zero. Problems the graph cannot connect start on the straight line.
        icem_iterations: iCEM rounds of ``init="icem"``.
        icem_samples: iCEM's first-round population of ``init="icem"``.
        num_particles: ``K`` lifted trajectories per problem, optimised together as ``B x K``
            independent problems in the same batched model call (``B x K x T`` transitions per
            lifted iteration); the one with the lowest full-rollout cost is returned. Particle 0
            starts on the paper's initialisation; the others on it displaced by a smooth bump
            (``particle_spread``), i.e. through other via-points. ``1`` = the paper's planner.
        particle_spread: size of that displacement at mid-horizon, relative to the RMS distance
            between the start and the end of the initial path (per particle a random direction).
        polish_steps: gradient steps (``sync_lr``) on the shooting loss after the lifted phase,
            on the returned actions only; a polish step that raises the rollout cost is undone.
        warm_iterations: lifted iterations of a warm-started plan (``plan`` given
            ``init_actions``: an MPC replan) instead of ``iterations``. The virtual states then
            start on the model's rollout of the warm start, not on the line, the graph's path or
            an iCEM search: a replan refines the last plan from where the agent now is. With
            syncs on, a sync ends the lifted phase. ``0``: no lifted phase, only the polish (and,
            with ``keep_best`` and ``keep_warm_start``, the warm start as a candidate). ``None``
            (default): a warm start is planned like a cold one.
        warm_polish_steps: polish steps of a warm-started plan (with ``warm_iterations`` set: an
            MPC replan) instead of ``polish_steps``; ``None`` (default): ``polish_steps``.
        seed: seed of the planner's own generator (used when ``plan`` gets none).
        max_batch: problems planned per chunk (bounds memory for large batches).
        time_budget_s: wall-clock budget per ``plan`` call (anytime: stops early, runs a final
            sync if syncs are enabled, itself cut short at the deadline after its first step,
            and returns the plan so far); ``None`` = unlimited.
    """

    iterations: int = ranged(200, ge=1)
    lr_s: float = ranged(0.1, ge=0.0)
    lr_a: float = ranged(0.01, ge=0.0)
    sigma: float = ranged(0.01, ge=0.0)
    sigma_final: float = ranged(0.0, ge=0.0)
    noise_schedule: Literal["constant", "linear"] = "constant"
    gamma: float = ranged(1.0, ge=0.0)
    gamma_final: float = ranged(0.0, ge=0.0)
    gamma_schedule: Literal["constant", "linear"] = "constant"
    sync_every: int = ranged(50, ge=1)
    sync_steps: int = ranged(10, ge=1)
    sync_lr: float = ranged(0.05, ge=0.0)
    sync_mode: Literal["gd", "cem"] = "gd"
    cem_sync_samples: int = ranged(64, ge=1)
    cem_sync_elites: int = ranged(8, ge=1)
    cem_sync_gap_scale: float = ranged(1.0, ge=0.0)
    cem_sync_std_floor: float = ranged(0.05, ge=0.0)
    init_state_noise: float = ranged(0.0, ge=0.0)
    use_noise: bool = True
    stop_gradient: bool = True
    use_sync: bool = True
    use_goal_term: bool = True
    keep_best: bool = False
    keep_warm_start: bool = False
    init: Literal["line", "icem", "graph"] = "line"
    icem_iterations: int = ranged(10, ge=1)
    icem_samples: int = ranged(256, ge=2)
    num_particles: int = ranged(1, ge=1)
    particle_spread: float = ranged(0.5, ge=0.0)
    polish_steps: int = ranged(0, ge=0)
    warm_iterations: int | None = ranged(None, ge=0)
    warm_polish_steps: int | None = ranged(None, ge=0)
    seed: int | None = ranged(0, **SEED_RANGE)
    max_batch: int = ranged(1024, ge=1)
    time_budget_s: float | None = ranged(None, gt=0.0)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> GRASPConfig:
        """A named configuration (:data:`PRESETS`: ``"paper"``, ``"long_horizon"``, ``"graph"``,
        ``"graph_fast"``, ``"graph_mpc"``) with ``overrides`` applied, e.g.
        ``GRASPConfig.preset("graph_fast", seed=3)``."""
        if name not in PRESETS:
            raise ValueError(f"unknown GRASP preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


#: Named configurations (:meth:`GRASPConfig.preset`). ``"paper"``: the defaults of the authors'
#: code. ``"long_horizon"``: the combination that beat iCEM on WallDoor open loop at H = 50-100
#: (``docs/results/planners.md``): a short iCEM search, 50 lifted iterations refining its plan,
#: 10 polish steps, the best plan by rollout cost. ``"graph"``: virtual states along the shortest
#: path through the planner's state graph (the training data), held nearly fixed (``lr_s``
#: 0.003, no noise, no goal term) while the actions learn to follow them, two syncs and a polish
#: (``docs/results/planners.md``: WallDoor open loop at H = 100). ``"graph_fast"``: the graph
#: start without syncs: 30 lifted iterations teach the actions to follow the path, then 10
#: polish steps on the rollout; on WallDoor as successful as ``"graph"`` (more at H = 100) at
#: about a third of its CPU time, 0.9x iCEM's (``docs/results/planners.md``). ``"graph_mpc"``:
#: ``"graph_fast"`` for MPC: the episode's first plan polished 30 steps, each replan only polished
#: (``warm_iterations=0``, 5 steps), at twice the polish step size; on WallDoor's MPC tasks 93%
#: at H = 50 against iCEM's 82%, at 0.7x its CPU. Set ``planner.state_graph`` for all three.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "long_horizon": {"init": "icem", "iterations": 50, "sync_every": 25, "sigma": 0.02, "keep_best": True,
                     "keep_warm_start": True, "polish_steps": 10},
    "graph": {"init": "graph", "iterations": 100, "sync_every": 50, "sigma": 0.0, "gamma": 0.0, "lr_s": 0.003,
              "lr_a": 0.05, "keep_best": True, "keep_warm_start": True, "polish_steps": 10},
    "graph_fast": {"init": "graph", "iterations": 30, "use_sync": False, "sigma": 0.0, "gamma": 0.0,
                   "lr_s": 0.003, "lr_a": 0.05, "keep_best": True, "keep_warm_start": True,
                   "polish_steps": 10},
}
PRESETS["graph_mpc"] = {**PRESETS["graph_fast"], "polish_steps": 30, "warm_iterations": 0,
                        "warm_polish_steps": 5, "sync_lr": 0.1}
