"""The config dataclasses of every experiment family (validated by :mod:`grasp_agent.experiments.config`).

The sections they share (an environment, data collection, a world model, its training, a task
distribution, planners, an evaluation protocol) are in :mod:`grasp_agent.experiments.sections`. Each family
combines them in a top-level dataclass whose ``experiment`` field selects it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from grasp_agent.experiments.sections import (  # noqa: F401  (re-exported: configs name them here)
    DataSection,
    EnvSection,
    EvalSection,
    ModelSection,
    PlannerSpec,
    TaskSection,
    TrainSection,
)


@dataclass
class QuickstartConfig:
    """Collect data on one env, train a world model, plan with several planners, score them."""

    experiment: Literal["quickstart"] = "quickstart"
    name: str = "quickstart"
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    progress: bool = True
    env: EnvSection = field(default_factory=EnvSection)
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    train: TrainSection = field(default_factory=TrainSection)
    tasks: TaskSection = field(default_factory=TaskSection)
    planners: dict[str, PlannerSpec] = field(default_factory=dict)
    eval: EvalSection = field(default_factory=EvalSection)

    def validate(self) -> None:
        if not self.planners:
            raise ValueError("planners: list at least one planner (e.g. grasp: {type: grasp})")


@dataclass
class SweepEnvCase:
    """One environment of the horizon sweep, with its own data, model and training.

    Attributes:
        planner_params: per-planner parameter overrides for this env (``{planner name:
            {param: value}}``), e.g. the result of tuning on this env.
        horizons: task lengths for this env (``null``: the sweep's ``horizons``), for envs
            whose longest task is shorter than the sweep's largest ``H``.
    """

    env: EnvSection = field(default_factory=EnvSection)
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    train: TrainSection = field(default_factory=TrainSection)
    planner_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    horizons: list[int] | None = None


@dataclass
class HorizonSweepConfig:
    """Paper Table 1 protocol: success and time to success versus task length ``H``.

    Attributes:
        horizons: task lengths ``H``: tasks need at least ``H`` steps.
        horizon_factor: the planning horizon is ``ceil(horizon_factor * H)``.
        tasks_per_cell: tasks per (env, H) cell, shared by every planner and mode.
        task_seed: first reset seed of the task sampler.
        models_from: a horizon-sweep run directory whose trained world models this run uses
            instead of training its own (its envs' ``env``, ``data``, ``model`` and ``train``
            sections and its seed must equal this config's; see
            :mod:`grasp_agent.experiments.sweep_models`); ``null``: train them here.
    """

    experiment: Literal["horizon_sweep"] = "horizon_sweep"
    name: str = "horizon_sweep"
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    progress: bool = True
    envs: dict[str, SweepEnvCase] = field(default_factory=dict)
    horizons: list[int] = field(default_factory=lambda: [25, 50, 75, 100])
    horizon_factor: float = 1.25
    tasks_per_cell: int = 100
    task_seed: int = 10_000
    planners: dict[str, PlannerSpec] = field(default_factory=dict)
    eval: EvalSection = field(default_factory=EvalSection)
    models_from: str | None = None

    def validate(self) -> None:
        if not self.envs or not self.planners or not self.horizons:
            raise ValueError("envs, planners and horizons must each list at least one entry")
        if self.horizon_factor < 1.0:
            raise ValueError(f"horizon_factor must be >= 1 (plans must be able to reach the goal), "
                             f"got {self.horizon_factor}")


@dataclass
class SB3AlgoSpec:
    """An SB3 baseline: ``type`` (``ppo`` or ``sac_her``) and its constructor keywords."""

    type: Literal["ppo", "sac_her"] = "ppo"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DynaSection:
    """The GRASP agent of the SB3 comparison: :class:`grasp_agent.dyna.DynaLoop` with a
    shrinking-horizon MPC :class:`~grasp_agent.agents.PlannerAgent` (see
    :mod:`grasp_agent.experiments.sb3_grasp`).

    Attributes:
        planner: the planner used for MPC (its horizon is the comparison's ``eval_steps``).
        model: the world model (built untrained, retrained in place).
        train: every retrain's settings (:func:`grasp_agent.training.fit_world_model`; the
            retrain after iteration ``i`` is seeded ``train.seed + i``).
        warmup_steps: the first env steps act uniformly at random (the loop's ``random_steps``);
            the agent plans from then on, with the untrained model until the first retrain, so
            keep it ``>= train_every``.
        train_every: env steps between (warm-started) model retrains: one Dyna iteration
            (the loop's ``steps_per_iteration``); ``total_steps`` must be a multiple of it.
        replan_every: MPC steps executed between plans.
    """

    planner: PlannerSpec = field(default_factory=PlannerSpec)
    model: ModelSection = field(default_factory=ModelSection)
    train: TrainSection = field(default_factory=TrainSection)
    warmup_steps: int = 1000
    train_every: int = 1000
    replan_every: int = 5

    def validate(self) -> None:
        if min(self.warmup_steps, self.train_every, self.replan_every) < 1:
            raise ValueError("warmup_steps, train_every and replan_every must be >= 1")


@dataclass
class SB3CompareConfig:
    """PPO / SAC+HER versus the GRASP agent (Dyna) on the same LatentGoalWrapper tasks.

    Attributes:
        min_path_length: training and evaluation tasks need at least this many steps.
        total_steps: real env steps per agent.
        eval_every: env steps between evaluations.
        eval_episodes: fixed evaluation tasks (reset seeds ``eval_seed, eval_seed + 1, ...``).
        eval_steps: steps per evaluation episode (also the GRASP agent's planning horizon).
        algos: SB3 baselines by name.
        grasp: the GRASP agent's Dyna loop (``null`` to skip it).
    """

    experiment: Literal["sb3_compare"] = "sb3_compare"
    name: str = "sb3_compare"
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    progress: bool = True
    env: EnvSection = field(default_factory=EnvSection)
    min_path_length: int = 10
    total_steps: int = 20_000
    eval_every: int = 5_000
    eval_episodes: int = 20
    eval_steps: int = 50
    eval_seed: int = 50_000
    algos: dict[str, SB3AlgoSpec] = field(default_factory=dict)
    grasp: DynaSection | None = field(default_factory=DynaSection)

    def validate(self) -> None:
        if min(self.total_steps, self.eval_every, self.eval_episodes, self.eval_steps) < 1:
            raise ValueError("total_steps, eval_every, eval_episodes and eval_steps must be >= 1")
        if self.grasp is not None and self.total_steps % self.grasp.train_every:
            raise ValueError(f"total_steps={self.total_steps} must be a multiple of grasp.train_every="
                             f"{self.grasp.train_every} (the Dyna loop runs whole iterations)")


@dataclass
class MinigridConfig:
    """GRASP's discrete relaxation versus a categorical CEM and PPO on the minigrid task."""

    experiment: Literal["minigrid"] = "minigrid"
    name: str = "minigrid"
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    progress: bool = True
    env: EnvSection = field(default_factory=lambda: EnvSection(id="grasp_agent/MiniGridGoal-v0"))
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    train: TrainSection = field(default_factory=TrainSection)
    tasks: TaskSection = field(default_factory=TaskSection)
    planners: dict[str, PlannerSpec] = field(default_factory=dict)
    eval: EvalSection = field(default_factory=EvalSection)
    ppo_steps: int = 20_000
    ppo_params: dict[str, Any] = field(default_factory=dict)


@dataclass
class SACSection:
    """SB3's SAC on one env of the third-party comparison (SAC + ``HerReplayBuffer`` on goal envs).

    Attributes:
        params: keywords of ``stable_baselines3.SAC`` (``learning_starts``, ``batch_size``...).
        eval_every: env steps between evaluations (the points of the curve).
    """

    params: dict[str, Any] = field(default_factory=dict)
    eval_every: int = 5000


@dataclass
class ThirdPartyEnvCase:
    """One third-party env: its budget, world model, planner settings and SAC.

    Attributes:
        env_steps: env steps of every agent: the planners' world-model data, SAC's training.
        planner_steps: data budgets (each <= ``env_steps``) at which a world model is trained
            and the planners evaluated, for a curve (``null``: ``[env_steps]``).
        train: :class:`grasp_agent.training.FitConfig` fields (device excluded: the config's).
        horizon, replan_every: the planner agents' MPC settings.
        eval_episodes: evaluation episodes per agent (reset seeds from ``eval_seed``).
        error_horizon: ``H`` of the model's H-step error on the evaluation episodes.
        planner_params: per-planner overrides (``{planner name: {param: value}}``).
        planners: names of the config's planners to run on this env (``null``: all of them).
        sac: SB3's SAC (``null`` skips it).
    """

    env: EnvSection = field(default_factory=lambda: EnvSection(id="Pendulum-v1"))
    model: ModelSection = field(default_factory=ModelSection)
    env_steps: int = 10_000
    planner_steps: list[int] | None = None
    train: dict[str, Any] = field(default_factory=dict)
    horizon: int = 20
    replan_every: int = 1
    eval_episodes: int = 10
    eval_seed: int = 100_000
    error_horizon: int = 10
    planner_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    planners: list[str] | None = None
    sac: SACSection | None = field(default_factory=SACSection)

    def validate(self) -> None:
        from grasp_agent.experiments.third_party import check_env_case

        check_env_case(self)


@dataclass
class ThirdPartyConfig:
    """GRASP, CEM and MPPI agents and SAC (+HER) on Gymnasium / Gymnasium-Robotics envs
    (:mod:`grasp_agent.experiments.third_party`)."""

    experiment: Literal["third_party"] = "third_party"
    name: str = "third_party"
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    progress: bool = True
    envs: dict[str, ThirdPartyEnvCase] = field(default_factory=dict)
    planners: dict[str, PlannerSpec] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.envs:
            raise ValueError("envs: list at least one env (e.g. pendulum: {env: {id: Pendulum-v1}})")
        for name, case in self.envs.items():
            unknown = sorted(set(case.planners or []) - set(self.planners))
            if unknown:
                raise ValueError(f"envs.{name}.planners names planners {unknown} that planners does not "
                                 f"define; defined: {sorted(self.planners)}")


CONFIG_CLASSES: dict[str, type] = {
    "quickstart": QuickstartConfig,
    "horizon_sweep": HorizonSweepConfig,
    "sb3_compare": SB3CompareConfig,
    "minigrid": MinigridConfig,
    "third_party": ThirdPartyConfig,
}
