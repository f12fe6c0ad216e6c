"""The evaluation protocol: executed success, model success, failure attribution, model error."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import grasp_agent  # noqa: F401
from grasp_agent.agents import CEMAgent
from grasp_agent.experiments.evaluation import Task, run_tasks, sample_tasks, summarize
from grasp_agent.models.base import WorldModel
from grasp_agent.planners import CEMConfig, CEMPlanner

MAX_STEP = 0.02


class WallBlindModel(WorldModel):
    """Exact WallDoor free-space kinematics that ignores the wall (and the arena border)."""

    latent_dim, action_dim = 2, 2

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(obs, device=self.device).float().reshape(-1, 2)

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        norm = a.norm(dim=-1, keepdim=True).clamp_min(1.0)
        return z + MAX_STEP * a / norm


def _env() -> gym.Env:
    return gym.make("grasp_agent/WallDoor-v0", tasks="any")


def _task(env: gym.Env, start: list[float], goal: list[float]) -> Task:
    options = {"start": start, "goal": goal}
    obs, info = env.reset(seed=0, options=options)
    return Task(0, options, obs["observation"], obs["desired_goal"], info["oracle_path_length"])


def _agent(model: WorldModel, env: gym.Env, horizon: int, replan_every: int | None = None) -> CEMAgent:
    """The agent the experiments build: open loop, or shrinking-horizon MPC every ``replan_every``."""
    cfg = CEMConfig(iterations=15, num_samples=200, num_elites=20, seed=0)
    return CEMAgent.from_env(env, model, planner_config=cfg, horizon=horizon, latent_goals=False,
                             open_loop=replan_every is None, replan_every=replan_every or 1,
                             horizon_mode="shrinking")


def test_wall_blind_model_failure_is_attributed_to_the_model():
    env = _env()
    model = WallBlindModel()
    same_side = _task(env, [0.1, 0.2], [0.3, 0.2])     # straight line in free space
    across = _task(env, [0.3, 0.2], [0.7, 0.2])        # straight line goes through the wall
    records = run_tasks([env, _env()], _agent(model, env, 30), [same_side, across])
    ok, blocked = records
    assert ok["success"] and ok["model_success"] and ok["failure"] == "none"
    assert 0 < ok["steps_to_success"] <= 30
    assert ok["time_to_success_s"] == ok["plan_time_s"] > 0
    assert ok["cpu_time_to_success_s"] == ok["plan_cpu_s"] > 0
    assert ok["model_final_dist"] < 1e-4  # the model is exact in free space
    assert not blocked["success"] and blocked["model_success"] and blocked["failure"] == "model"
    assert blocked["obstacle_contacts"] > 0 and blocked["model_final_dist"] > 0.1
    summary = summarize(records)
    assert summary["success_rate"] == 0.5 and summary["model_failures"] == 1
    assert summary["median_cpu_time_to_success_s"] == ok["cpu_time_to_success_s"]
    assert summary["planner_failures"] == 0


def test_planner_failure_when_horizon_is_too_short():
    env = _env()
    model = WallBlindModel()
    far = _task(env, [0.05, 0.1], [0.35, 0.9])   # > 15 steps even in free space
    records = run_tasks([env], _agent(model, env, 10), [far])
    assert records[0]["failure"] == "planner" and not records[0]["model_success"]


def test_mpc_replans_with_shrinking_horizon_and_succeeds(monkeypatch: pytest.MonkeyPatch):
    env = _env()
    model = WallBlindModel()
    task = _task(env, [0.1, 0.2], [0.3, 0.5])   # ~18 steps in free space, budget 30
    calls = []
    original = CEMPlanner.plan

    def counting(self, *args, **kwargs):
        init = kwargs.get("init_actions")
        calls.append((self.horizon, None if init is None else init.shape[1]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CEMPlanner, "plan", counting)
    (record,) = run_tasks([env], _agent(model, env, 30, replan_every=5), [task])
    assert record["success"] and record["steps_to_success"] <= 30
    # plan 30 steps, then replan the remaining 25, 20, ... warm-started with the rest of the plan
    assert calls[0] == (30, None)
    assert calls[1:] == [(30 - 5 * k, 30 - 5 * k) for k in range(1, len(calls))]


def test_sample_tasks_respects_length_and_feasibility():
    env = _env()
    tasks = sample_tasks(env, 5, 20, 30, seed=123)
    assert len(tasks) == 5 and len({t.seed for t in tasks}) == 5
    assert all(20 <= t.oracle_path_length <= 30 for t in tasks)
    again = sample_tasks(env, 5, 20, 30, seed=123)
    assert [t.seed for t in again] == [t.seed for t in tasks]
    assert all(np.array_equal(a.desired_goal, b.desired_goal) for a, b in zip(tasks, again))
    with pytest.raises(ValueError, match="raise the horizon"):
        sample_tasks(env, 3, 40, 20, seed=0)


def test_timing_tasks_replan_the_first_tasks_alone_and_supply_the_times(
        monkeypatch: pytest.MonkeyPatch):
    from grasp_agent.experiments.planning import evaluate_planners
    from grasp_agent.experiments.schema import PlannerSpec

    env = _env()
    model = WallBlindModel()
    tasks = [_task(env, [0.1, 0.2], [0.3, 0.2]),     # solvable
             _task(env, [0.3, 0.2], [0.7, 0.2]),     # blocked by the wall
             _task(env, [0.1, 0.6], [0.3, 0.6])]     # solvable, not timed
    batch_sizes = []
    original = CEMPlanner.plan

    def counting(self, z0, *args, **kwargs):
        batch_sizes.append(z0.shape[0])
        return original(self, z0, *args, **kwargs)

    monkeypatch.setattr(CEMPlanner, "plan", counting)
    spec = PlannerSpec("cem", {"iterations": 15, "num_samples": 200, "num_elites": 20})
    envs = [env, _env(), _env()]
    rows, records = evaluate_planners(envs, model, {"cem": spec}, tasks, 30, ["open_loop"], 10,
                                      plan_batch=3, latent_success_mse=0.01, device="cpu", seed=0,
                                      timing_tasks=2)
    # warm-up (1 problem), the batched call over all 3 tasks, then tasks 0 and 1 alone
    assert batch_sizes == [1, 3, 1, 1]
    first, blocked, untimed = records
    assert first["timed_success"] is True and first["timed_plan_time_s"] > 0
    assert first["timed_plan_cpu_s"] > 0
    assert blocked["timed_success"] is False and blocked["timed_plan_time_s"] > 0
    assert untimed["timed_success"] is None and np.isnan(untimed["timed_plan_time_s"])
    row = rows[0]
    assert row["success_rate"] == pytest.approx(2 / 3) and row["timed_tasks"] == 2
    # times come from the single-task runs, not from the amortised batch times
    assert row["median_time_to_success_s"] == first["timed_plan_time_s"]
    assert row["median_cpu_time_to_success_s"] == first["timed_plan_cpu_s"]
    assert row["median_plan_time_s"] == np.median([first["timed_plan_time_s"],
                                                   blocked["timed_plan_time_s"]])


def test_summarize_without_timing_runs_uses_each_records_own_time():
    records = [{"success": True, "model_success": True, "failure": "none", "plan_time_s": 2.0,
                "time_to_success_s": 2.0, "plan_cpu_s": 1.0, "cpu_time_to_success_s": 1.0},
               {"success": False, "model_success": False, "failure": "planner", "plan_time_s": 4.0,
                "time_to_success_s": float("nan"), "plan_cpu_s": 3.0,
                "cpu_time_to_success_s": float("nan")}]
    summary = summarize(records)
    assert summary["timed_tasks"] == 0
    assert summary["median_time_to_success_s"] == 2.0 and summary["median_plan_time_s"] == 3.0
    assert summary["median_cpu_time_to_success_s"] == 1.0 and summary["planner_failures"] == 1


def test_summarize_averages_finite_model_errors_and_counts_diverged_rollouts():
    """One task whose open-loop model rollout overflowed must not turn the cell's model error
    into NaN: the mean takes the finite tasks and ``model_diverged`` counts the others."""
    base = {"success": False, "model_success": False, "failure": "planner", "plan_time_s": 1.0,
            "time_to_success_s": float("nan"), "plan_cpu_s": 1.0, "cpu_time_to_success_s": float("nan")}
    records = [{**base, "model_mse": 0.5, "model_final_dist": 0.2},
               {**base, "model_mse": float("nan"), "model_final_dist": float("inf")},
               {**base, "model_mse": 1.5, "model_final_dist": 0.4},
               {**base, "model_mse": float("inf"), "model_final_dist": float("nan")}]
    summary = summarize(records)
    assert summary["model_mse"] == pytest.approx(1.0)
    assert summary["model_final_dist"] == pytest.approx(0.3)
    assert summary["model_diverged"] == 2
    assert summarize(records[:1])["model_diverged"] == 0
