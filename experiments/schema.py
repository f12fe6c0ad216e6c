"""The config dataclasses of every experiment family (validated by :mod:`grasp_agent.experiments.config`).

Sections are shared: an environment, random-policy data collection, a world model, its
training, a task distribution, planners and an evaluation protocol. Each experiment family
combines them in a top-level dataclass whose ``experiment`` field selects it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class EnvSection:
    """Which environment to build.

    Attributes:
        id: a registered Gymnasium id (``grasp_agent/WallDoor-v0``...).
        kwargs: constructor keywords (``obs_mode``, ``layout``, ``image_size``...).
        max_episode_steps: override of the registered time limit (``null`` keeps it).
        wrappers: applied in order; ``discrete_to_box`` relaxes ``Discrete(n)`` actions to
            ``Box(-1, 1, (n,))`` scores (argmax to the env) for continuous planners.
    """

    id: str = "grasp_agent/WallDoor-v0"
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None
    wrappers: list[Literal["discrete_to_box"]] = field(default_factory=list)


@dataclass
class DataSection:
    """Random-policy data collection for the world model.

    Attributes:
        episodes: number of episodes collected.
        episode_steps: steps per episode (an earlier time limit or termination ends it too).
        action_repeat: hold each uniformly sampled action for this many steps (wider coverage).
        seed: seed of the resets and of the action sampler.
        env_kwargs: extra constructor keywords of the collection env only (e.g. WallDoor
            ``tasks: any`` so episodes start anywhere, not just left of the wall).
        goal_directed_fraction: fraction of the episodes (every ``k``-th one) driven by
            :class:`grasp_agent.agents.GoalDirectedAgent` (a noisy unit step towards the episode's goal,
            one fresh action per step) instead of held uniform actions. Point envs with
            obstacles need it: uniform actions rarely press against a wall, so the model learns
            a blurry wall that planners walk through in imagination.
        goal_noise: the goal-directed agent's Gaussian noise std.
        scripted_fraction: fraction of the episodes (every ``k``-th one, as
            ``goal_directed_fraction``) driven by the env's scripted policy (PushBlock:
            :class:`grasp_agent.envs.push_block_script.ScriptedPusher`: approach the block from
            the side opposite its target, push it toward and past the goal, turn, push back);
            ``goal_directed_fraction`` then applies to the other episodes. Uniform actions move
            PushBlock's block in few transitions, so a model trained on them cannot push.
        scripted_noise: the scripted policy's Gaussian action noise std.
        dyna_rounds: after the initial data, this many rounds of planner-driven collection by
            :class:`grasp_agent.dyna.DynaLoop` (the loop users call): train the model
            ``dyna_train_steps`` steps, then per round ``dyna_steps`` env steps of MPC with
            ``dyna_planner`` on the current model (episodes of ``episode_steps``, fresh goals)
            and a retrain; the final training (``train``) then runs on all the data. 0 = off.
        dyna_steps: env steps per round.
        dyna_planner: the planner of those rounds (receding-horizon MPC towards each episode's goal).
        dyna_horizon: its planning horizon (model steps).
        dyna_replan_every: env steps executed between its plans.
        dyna_train_steps: gradient steps of the first training and of every round's retrain.
    """

    episodes: int = 100
    episode_steps: int = 100
    action_repeat: int = 1
    seed: int = 0
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    goal_directed_fraction: float = 0.0
    goal_noise: float = 0.5
    scripted_fraction: float = 0.0
    scripted_noise: float = 0.3
    dyna_rounds: int = 0
    dyna_steps: int = 2000
    dyna_planner: PlannerSpec = field(default_factory=lambda: PlannerSpec(
        type="cem", params={"iterations": 10, "num_samples": 256, "num_elites": 32}))
    dyna_horizon: int = 25
    dyna_replan_every: int = 5
    dyna_train_steps: int = 1000

    def validate(self) -> None:
        for name in ("episodes", "episode_steps", "action_repeat", "dyna_steps", "dyna_horizon",
                     "dyna_replan_every", "dyna_train_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("goal_directed_fraction", "scripted_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"data.{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("goal_noise", "scripted_noise"):
            if not 0.0 <= getattr(self, name) < float("inf"):
                raise ValueError(f"data.{name} must be a finite number >= 0, got {getattr(self, name)}")
        if self.dyna_rounds < 0:
            raise ValueError(f"data.dyna_rounds must be >= 0 (0: no planner-driven rounds), got "
                             f"{self.dyna_rounds}")
        if self.dyna_replan_every > self.dyna_horizon:
            raise ValueError(f"data.dyna_replan_every={self.dyna_replan_every} must be <= data.dyna_horizon="
                             f"{self.dyna_horizon} (a plan has that many actions)")
        self.dyna_planner.validate()
        if self.dyna_rounds > 0:  # its params against the planner's config (a typo fails before any work)
            from grasp_agent.experiments.config import from_dict
            from grasp_agent.experiments.planning import planner_classes

            spec = self.dyna_planner
            from_dict(planner_classes(spec.type)[1], dict(spec.params),
                      f"data.dyna_planner ({spec.type}) params")


@dataclass
class ModelSection:
    """The world model: ``type`` (a name of :data:`grasp_agent.models.WORLD_MODELS`) and its
    constructor keywords (``hidden_sizes``, ...)."""

    type: str = "mlp"
    kwargs: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """``type`` must be registered (:func:`grasp_agent.register_world_model` adds types)."""
        from grasp_agent.models.registry import world_model_builder

        world_model_builder(self.type)  # ValueError listing the registered types


@dataclass
class TrainSection:
    """World-model training: the fields of :class:`grasp_agent.training.FitConfig` (the one trainer,
    :func:`grasp_agent.training.fit_world_model`), device excluded (the experiment's ``device``).

    Attributes:
        max_steps: maximum gradient steps.
        batch_size: sequences (or transitions) per step.
        seq_len: window length for sequence models (GRU, transformer).
        eval_every: gradient steps between validations (early-stopping checks).
        lr, weight_decay: AdamW settings.
        val_fraction: share of episodes held out for validation.
        patience: validations without improvement before stopping.
        seed: seeds the split, the batches and the evaluation set.
        rollout_horizon: ``H`` of the multi-step (rollout) loss (1: the one-step loss only).
        rollout_discount: weight ``discount ** (t - 1)`` of open-loop step ``t``, in ``(0, 1]``.
        report: after training, evaluate the model on the held-out (validation) episodes
            (:func:`grasp_agent.training.evaluate_world_model`), log a one-line summary and
            write the report next to the saved model (not a trainer field).
        report_horizons: the ``H`` of the report's open-loop errors (1 = one step).
        report_max_windows: windows per horizon at most (keeps the report cheap).
    """

    max_steps: int = 5000
    batch_size: int = 256
    seq_len: int = 8
    eval_every: int = 250
    lr: float = 1e-3
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    patience: int = 10
    seed: int = 0
    rollout_horizon: int = 1
    rollout_discount: float = 1.0
    report: bool = True
    report_horizons: list[int] = field(default_factory=lambda: [1, 10, 50, 100])
    report_max_windows: int = 500

    def validate(self) -> None:
        for name in ("max_steps", "batch_size", "seq_len", "eval_every", "patience", "rollout_horizon",
                     "report_max_windows"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"train.val_fraction must be in (0, 1), got {self.val_fraction}")
        if not (self.lr > 0 and self.lr < float("inf")) or not 0.0 <= self.weight_decay < float("inf"):
            raise ValueError(f"train.lr must be a positive finite number and weight_decay >= 0, got "
                             f"lr={self.lr}, weight_decay={self.weight_decay}")
        if self.seed < 0:
            raise ValueError(f"train.seed must be >= 0, got {self.seed}")
        if not 0.0 < self.rollout_discount <= 1.0:
            raise ValueError(f"train.rollout_discount must be in (0, 1], got {self.rollout_discount}")
        if not self.report_horizons or min(self.report_horizons) < 1:
            raise ValueError(f"train.report_horizons must list ints >= 1, got {self.report_horizons}")


@dataclass
class TaskSection:
    """How evaluation tasks are sampled.

    Attributes:
        count: number of tasks (start/goal pairs).
        min_path_length: tasks need at least this many steps (env option ``min_path_length``).
        horizon: planning horizon ``T`` (actions per plan).
        seed: first reset seed; task ``i`` uses the ``i``-th accepted seed from here on.
        require_feasible: reject tasks whose oracle path is longer than ``horizon``.
    """

    count: int = 8
    min_path_length: int = 10
    horizon: int = 30
    seed: int = 10_000
    require_feasible: bool = True

    def validate(self) -> None:
        if self.count < 1 or self.horizon < 1 or self.min_path_length < 0:
            raise ValueError("tasks.count and tasks.horizon must be >= 1, min_path_length >= 0")


@dataclass
class PlannerSpec:
    """One planner: ``type`` (a name of :data:`grasp_agent.planners.PLANNERS`) and its config fields."""

    type: str = "grasp"
    params: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        from grasp_agent.planners.registry import PLANNERS

        if self.type not in PLANNERS:
            raise ValueError(f"planner type {self.type!r} unknown; registered planners: "
                             f"{sorted(PLANNERS)}")


@dataclass
class EvalSection:
    """How plans are executed and scored.

    Attributes:
        modes: ``open_loop`` (plan once, execute all actions) and/or ``mpc`` (replan every
            ``replan_every`` steps from the real observation, warm-started by the shifted plan).
        replan_every: MPC steps executed between plans.
        plan_batch: tasks planned together in one batched call (time is reported per task,
            the batch time divided by the batch size, unless ``timing_tasks`` is set).
        timing_tasks: with ``plan_batch > 1``, the first ``timing_tasks`` tasks of every cell
            are planned again one task per call, and the time columns come from those
            single-task runs (exact per-task times), while success rates and model errors come
            from the batched run over all tasks. Batching amortises planners unevenly (sample
            based planners are already batched over samples), so batched times are not
            comparable across planners; this keeps the comparison exact at a fraction of the
            cost. ``0`` = times from the batched run.
        latent_success_mse: success under the model for learned encoders (pixels): the final
            latent's MSE to the goal latent must be below this. State models use the env's own
            success test on the predicted observation.
    """

    modes: list[Literal["open_loop", "mpc"]] = field(default_factory=lambda: ["open_loop"])
    replan_every: int = 10
    plan_batch: int = 1
    timing_tasks: int = 0
    latent_success_mse: float = 0.01

    def validate(self) -> None:
        if not self.modes:
            raise ValueError("eval.modes must list at least one of 'open_loop', 'mpc'")
        if self.replan_every < 1 or self.plan_batch < 1:
            raise ValueError("eval.replan_every and eval.plan_batch must be >= 1")
        if self.timing_tasks < 0:
            raise ValueError(f"eval.timing_tasks must be >= 0 (0 = no separate timing run), "
                             f"got {self.timing_tasks}")


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


CONFIG_CLASSES: dict[str, type] = {
    "quickstart": QuickstartConfig,
    "horizon_sweep": HorizonSweepConfig,
    "sb3_compare": SB3CompareConfig,
    "minigrid": MinigridConfig,
    "third_party": ThirdPartyConfig,
}
