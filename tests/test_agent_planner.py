"""GRASPAgent / PlannerAgent: MPC, warm starts, batching, goals, SB3 evaluation, save/load."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv

import grasp_agent
from grasp_agent.agents import GRASPAgent
from grasp_agent.agents.planner_agent import PlannerAgent, PlanState
from grasp_agent.planners import GRASPConfig, MPPIConfig

FAST_GRASP = GRASPConfig(iterations=15, sync_every=15, sync_steps=3, lr_a=0.1)
FAST_MPPI = MPPIConfig(iterations=4, num_samples=64)


class ShiftModel(grasp_agent.WorldModel):
    """``z' = z + gain * a`` (exact for a point mass without walls)."""

    def __init__(self, dim: int = 2, gain: float = 0.1) -> None:
        super().__init__()
        self.latent_dim = self.action_dim = dim
        self.gain = gain

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(obs).float().reshape(len(obs), -1)

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z + self.gain * a


class PointGoalEnv(gym.Env):
    """Goal-conditioned point mass on the plane: ``x' = x + gain * clip(a)``; success within 0.05."""

    def __init__(self, gain: float = 0.1, max_steps: int = 40) -> None:
        box = spaces.Box(-5.0, 5.0, (2,), np.float32)
        self.observation_space = spaces.Dict({"observation": box, "achieved_goal": box, "desired_goal": box})
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.gain, self.max_steps = gain, max_steps

    def _obs(self):
        x = self.x.astype(np.float32)
        return {"observation": x, "achieved_goal": x.copy(), "desired_goal": self.goal.astype(np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1, 1, 2)
        self.goal = self.x + self.np_random.uniform(-1, 1, 2)
        self.t = 0
        return self._obs(), {"is_success": False}

    def step(self, action):
        self.x = self.x + self.gain * np.clip(action, -1, 1)
        self.t += 1
        success = bool(np.linalg.norm(self.x - self.goal) <= 0.05)
        return self._obs(), float(success) - 1.0, success, self.t >= self.max_steps, {"is_success": success}


def walldoor(max_steps: int = 30):
    return gym.make("grasp_agent/WallDoor-v0", tasks="any", terminate_on_success=True,
                    max_episode_steps=max_steps)


def run_episode(agent, env, seed):
    obs, _ = env.reset(seed=seed)
    agent.reset()
    for _ in range(200):
        obs, _, term, trunc, info = env.step(agent.act(obs))
        if term or trunc:
            return info["is_success"]
    raise AssertionError("episode did not end")


def test_evaluate_policy_on_two_env_dummy_vec_env_plans_both_envs_in_one_call():
    venv = DummyVecEnv([walldoor, walldoor])
    agent = GRASPAgent.from_env(venv, ShiftModel(gain=0.02), horizon=20, replan_every=5,
                                planner_config=FAST_GRASP)
    batch_sizes = []
    plan = agent.planner.plan
    agent.planner.plan = lambda z0, zg, **kw: batch_sizes.append(z0.shape[0]) or plan(z0, zg, **kw)
    rewards, lengths = evaluate_policy(agent, venv, n_eval_episodes=4, return_episode_rewards=True,
                                       warn=False)
    assert len(rewards) == 4 and all(1 <= n <= 30 for n in lengths)
    assert batch_sizes[0] == 2 and max(batch_sizes) == 2   # both envs planned in one call
    assert agent._state is None                            # evaluation did not touch the agent's own state


def test_mpc_agent_reaches_goals_and_actions_stay_in_an_asymmetric_box():
    env = PointGoalEnv()
    agent = GRASPAgent.from_env(env, ShiftModel(), horizon=15, replan_every=3, planner_config=FAST_GRASP)
    assert all(run_episode(agent, env, seed) for seed in range(3))
    box = spaces.Box(np.array([0.0, -2.0], np.float32), np.array([2.0, -1.0], np.float32))
    other = PlannerAgent(ShiftModel(), box, planner="mppi", planner_config=FAST_MPPI, horizon=5)
    obs = {"observation": np.zeros((3, 2), np.float32), "desired_goal": np.full((3, 2), 5.0, np.float32)}
    actions, _ = other.predict(obs)
    assert actions.shape == (3, 2) and np.all(actions >= box.low) and np.all(actions <= box.high)


def test_mpc_recovers_from_model_error_where_open_loop_misses():
    """Real gain 0.1, model gain 0.07: open loop overshoots, MPC corrects with fresh observations."""
    env = PointGoalEnv(gain=0.1, max_steps=12)
    results = {}
    for open_loop in (True, False):
        agent = GRASPAgent.from_env(env, ShiftModel(gain=0.07), horizon=12, replan_every=1,
                                    open_loop=open_loop,
                                    planner_config=GRASPConfig(iterations=30, sync_every=10, sync_steps=3,
                                                               lr_a=0.1))
        results[open_loop] = [run_episode(agent, env, s) for s in range(3)]
        if open_loop:   # one plan per episode, executed blind
            assert agent.plan_calls == 3
    assert sum(results[False]) > sum(results[True]), results


def test_open_loop_plans_once_per_horizon_and_mpc_every_k_steps():
    obs = {"observation": np.zeros(2, np.float32), "desired_goal": np.ones(2, np.float32)}
    counts = {}
    for open_loop, k in ((True, 1), (False, 1), (False, 3)):
        agent = PlannerAgent(ShiftModel(), spaces.Box(-1, 1, (2,)), planner="mppi", planner_config=FAST_MPPI,
                             horizon=6, replan_every=k, open_loop=open_loop)
        first = None
        executed = []
        for step in range(7):
            executed.append(agent.act(obs))
            if step == 0:
                first = agent.last_plan.actions[0].numpy()
        counts[(open_loop, k)] = agent.plan_calls
        if open_loop:   # the first six actions are the first plan, executed unchanged
            np.testing.assert_allclose(np.stack(executed[:6]), first, atol=1e-6)
    assert counts == {(True, 1): 2, (False, 1): 7, (False, 3): 3}


def test_episode_start_resets_only_that_envs_warm_start():
    agent = PlannerAgent(ShiftModel(), spaces.Box(-1, 1, (2,)), planner="mppi", planner_config=FAST_MPPI,
                         horizon=5, replan_every=2)
    inits = []
    plan = agent.planner.plan
    agent.planner.plan = lambda z0, zg, init_actions=None, **kw: inits.append(init_actions) or plan(
        z0, zg, init_actions=init_actions, **kw)
    obs = {"observation": np.zeros((2, 2), np.float32), "desired_goal": np.ones((2, 2), np.float32)}
    _, state = agent.predict(obs, episode_start=np.array([True, True]))
    assert inits[-1] is None                                     # cold start: no warm start at all
    before = state.actions.clone()
    _, state = agent.predict(obs, state=state, episode_start=np.array([False, False]))
    assert len(inits) == 1                                       # replan_every=2: no replan yet
    _, state = agent.predict(obs, state=state, episode_start=np.array([True, False]))
    init = inits[-1]
    np.testing.assert_allclose(init[0].numpy(), 0.0)             # env 0: mid-range (cold)
    np.testing.assert_allclose(init[1, :3].numpy(), before[1, 2:].numpy())   # env 1: shifted by 2
    np.testing.assert_allclose(init[1, 3:].numpy(), 0.0)         # refilled tail
    assert isinstance(state, PlanState) and list(state.executed) == [1, 1]


def test_fixed_goal_for_box_observations_and_clear_errors():
    box_env_space = spaces.Box(-5, 5, (2,), np.float32)
    agent = PlannerAgent(ShiftModel(), spaces.Box(-1, 1, (2,)), planner="mppi", planner_config=FAST_MPPI,
                         horizon=5, observation_space=box_env_space)
    with pytest.raises(ValueError, match="no goal"):
        agent.act(np.zeros(2, np.float32))
    agent.set_goal(np.array([1.0, 0.0], np.float32))
    assert agent.act(np.zeros(2, np.float32))[0] > 0.5     # heads toward +x
    with pytest.raises(ValueError, match="trained on"):
        agent.act(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="replan_every"):
        PlannerAgent(ShiftModel(), spaces.Box(-1, 1, (2,)), horizon=5, replan_every=6)
    with pytest.raises(TypeError, match="DiscreteToBoxWrapper"):
        PlannerAgent(ShiftModel(), spaces.Discrete(3))


def test_time_budget_makes_planning_anytime():
    agent = PlannerAgent(ShiftModel(), spaces.Box(-1, 1, (2,)), horizon=10,
                         planner_config=GRASPConfig(iterations=100_000, sync_every=50), time_budget_s=0.05)
    obs = {"observation": np.zeros(2, np.float32), "desired_goal": np.ones(2, np.float32)}
    agent.act(obs)
    # the budget, not the iteration count, ended the plan (a wall-time bound would depend on the
    # machine's load: the first plan also pays one-time imports, measured 0.1-9 s here)
    info = agent.last_plan.info
    assert info["stopped_early"] and info["iterations"] < 100_000 and agent.time_budget_s == 0.05
    with pytest.raises(ValueError, match="time_budget_s"):
        agent.time_budget_s = -1.0


def test_save_load_round_trip_gives_the_same_actions(tmp_path):
    env = walldoor()
    model = grasp_agent.MLPWorldModel(2, 2, (16,))
    agent = GRASPAgent.from_env(env, model, horizon=8, replan_every=2, planner_config=FAST_GRASP,
                                time_budget_s=5.0, tail_fill="last")
    agent.save(tmp_path / "agent.pt")
    loaded = GRASPAgent.load(tmp_path / "agent.pt")
    assert type(loaded) is GRASPAgent and loaded.planner.config == agent.planner.config
    assert (loaded.replan_every, loaded.tail_fill, loaded.time_budget_s) == (2, "last", 5.0)
    obs, _ = env.reset(seed=3)
    for a in (agent, loaded):
        a.reset(seed=7)
    for _ in range(3):
        np.testing.assert_allclose(agent.act(obs), loaded.act(obs), atol=1e-6)
    with pytest.raises(ValueError, match="not a saved planner agent"):
        torch.save({"x": 1}, tmp_path / "bad.pt")
        GRASPAgent.load(tmp_path / "bad.pt")


def test_eval_callback_evaluates_the_agent_unchanged(tmp_path):
    env = walldoor()
    eval_env = DummyVecEnv([walldoor])
    agent = GRASPAgent.from_env(DummyVecEnv([walldoor]), ShiftModel(gain=0.02), horizon=10, replan_every=5,
                                planner_config=FAST_GRASP)
    callback = EvalCallback(eval_env, n_eval_episodes=2, eval_freq=2, log_path=str(tmp_path), warn=False)
    callback.init_callback(agent)
    callback.on_training_start({}, {})
    obs, _ = env.reset(seed=0)
    for _ in range(2):
        action = agent.act(obs)
        next_obs, reward, term, trunc, info = env.step(action)
        agent.observe(obs, action, reward, next_obs, term, trunc, info)
        obs = next_obs
        assert callback.on_step()
    logged = np.load(tmp_path / "evaluations.npz")
    assert list(logged["timesteps"]) == [2] and logged["results"].shape == (1, 2)
    assert "successes" in logged.files
