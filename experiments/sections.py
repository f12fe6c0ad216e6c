"""The shared sections of the experiment configs: an environment, data collection, a world model,
its training, a task distribution, planners and an evaluation protocol.

Each experiment family (:mod:`grasp_agent.experiments.schema`) combines them in a top-level
dataclass; :mod:`grasp_agent.experiments.config` validates them.
"""

from __future__ import annotations

import math
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


#: the policies of ``data.heldout`` (see :class:`DataSection`)
HeldoutPolicy = Literal["uniform", "goal_directed", "scripted", "planner"]


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
        heldout: evaluation sets of the model report, never trained on: after training,
            ``heldout_episodes`` fresh episodes (seeds apart from the training data's) of each
            listed policy: ``uniform`` (held uniform actions), ``goal_directed`` (the noisy
            goal-directed agent), ``scripted`` (the env's scripted policy) and ``planner``
            (receding-horizon MPC with ``dyna_planner``, ``dyna_horizon`` and
            ``dyna_replan_every`` on the trained model, towards each episode's goal: the
            distribution a planner visits). The report gets the groups ``<policy>`` and
            ``<policy>/<split>``, on the training held-out episodes' nmse scale.
        heldout_episodes: episodes per held-out set (of ``episode_steps`` steps).
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
    heldout: list[HeldoutPolicy] = field(default_factory=list)
    heldout_episodes: int = 20

    def validate(self) -> None:
        for name in ("episodes", "episode_steps", "action_repeat", "dyna_steps", "dyna_horizon",
                     "dyna_replan_every", "dyna_train_steps", "heldout_episodes"):
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
        if len(set(self.heldout)) != len(self.heldout):
            raise ValueError(f"data.heldout lists a policy twice: {self.heldout}")
        self.dyna_planner.validate()
        if self.dyna_rounds > 0 or "planner" in self.heldout:
            # its params against the planner's config (a typo fails before any work)
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
    """One planner: ``type`` (a name of :data:`grasp_agent.planners.PLANNERS`) and its config fields.

    Attributes:
        type: the registered planner name.
        params: fields of the planner's config dataclass.
        disagreement: weight of the ensemble-disagreement penalty added to the planner's
            objective (:class:`grasp_agent.planners.penalties.DisagreementPenalty`, PETS / MOPO
            style): every step of a plan costs ``disagreement * model.disagreement(s_t, a_t)``
            more. ``0`` (default): no penalty. ``> 0`` needs world models with a
            ``disagreement`` method (``model.type: ensemble``), checked before any work.
        cost_to_go: weight of the state graph's cost-to-go
            (:class:`grasp_agent.planners.GraphCostToGo`): the plan's final state is scored by
            its path length to the goal through the graph of the model's training data instead
            of the straight-line goal distance (receding-horizon MPC in mazes). ``0`` (default):
            off. Horizon sweeps and third-party goal envs only.
    """

    type: str = "grasp"
    params: dict[str, Any] = field(default_factory=dict)
    disagreement: float = 0.0
    cost_to_go: float = 0.0

    def validate(self) -> None:
        from grasp_agent.planners.registry import PLANNERS

        if self.type not in PLANNERS:
            raise ValueError(f"planner type {self.type!r} unknown; registered planners: "
                             f"{sorted(PLANNERS)}")
        for name in ("disagreement", "cost_to_go"):
            weight = getattr(self, name)
            if isinstance(weight, bool) or not math.isfinite(weight) or weight < 0:
                raise ValueError(f"{name} must be a finite number >= 0 (0: off), got {weight!r}")


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
