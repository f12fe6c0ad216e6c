"""Pieces of the SB3 comparison: pinned task options, the success evaluator, the GRASP arm's callback."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import grasp_agent  # noqa: F401
from grasp_agent.agents import PlannerAgent, RandomAgent
from grasp_agent.dyna import DynaConfig, DynaLoop
from grasp_agent.experiments.sb3_agents import TaskOptionsWrapper, evaluate_policy_success
from grasp_agent.models import MLPWorldModel
from grasp_agent.training import FitConfig


def test_task_options_are_pinned_on_every_reset():
    env = TaskOptionsWrapper(gym.make("grasp_agent/WallDoor-v0", tasks="any"), {"min_path_length": 25})
    lengths = [env.reset(seed=s)[1]["oracle_path_length"] for s in range(5)]
    assert min(lengths) >= 25
    # explicit options win over the pinned ones
    _, info = env.reset(seed=0, options={"min_path_length": 0, "start": [0.1, 0.1], "goal": [0.2, 0.1]})
    assert info["oracle_path_length"] <= 6
    reward = env.compute_reward(np.zeros(2, np.float32), np.zeros(2, np.float32), {})
    assert float(reward) == 0.0


def test_success_evaluator_distinguishes_good_and_bad_policies():
    env = TaskOptionsWrapper(gym.make("grasp_agent/WallDoor-v0", tasks="any"), {})
    same_side = {"start": [0.1, 0.2], "goal": [0.3, 0.2]}
    pinned = TaskOptionsWrapper(env, same_side)

    def greedy(obs):
        d = obs["desired_goal"] - obs["observation"]
        return (d / max(np.linalg.norm(d), 1e-6)).astype(np.float32)

    def still(obs):
        return np.zeros(2, np.float32)

    ok, ret_ok = evaluate_policy_success(pinned, greedy, [0, 1], max_steps=20)
    bad, ret_bad = evaluate_policy_success(pinned, still, [0, 1], max_steps=20)
    assert ok == 1.0 and bad == 0.0
    assert ret_bad == -20.0 and ret_ok > ret_bad


def test_grasp_arm_callback_evaluates_after_the_retrain_of_its_step(monkeypatch):
    import grasp_agent.experiments.sb3_grasp as arm

    env = gym.make("grasp_agent/WallDoor-v0", tasks="any", max_episode_steps=15)
    model = MLPWorldModel(2, 2, hidden_sizes=(8,))
    retrains_seen = []

    def fake_run_tasks(envs, agent, tasks):  # records how many retrains the evaluated model had
        retrains_seen.append(loop.iteration)
        return [{"success": True, "steps_to_success": 4}, {"success": False, "steps_to_success": -1}]

    monkeypatch.setattr(arm, "run_tasks", fake_run_tasks)
    logs = []
    callback = arm.DynaEvalCallback(PlannerAgent(model, env.action_space, horizon=10), [], [], eval_every=10,
                                    log=lambda tag, value, step: logs.append((tag, value, step)))
    fit = FitConfig(max_steps=2, batch_size=8, eval_every=1, eval_horizon=1, eval_size=8, device="cpu")
    cfg = DynaConfig(iterations=3, steps_per_iteration=20, random_steps=60, fit=fit, imagined_rollouts=0)
    loop = DynaLoop(env, RandomAgent(env.action_space, env.observation_space, seed=0), model, config=cfg,
                    callback=callback)
    loop.run()
    # step 10: no retrain yet (no model); 20, 40, 60 end iterations: evaluated after their retrain
    assert [r["env_steps"] for r in callback.rows] == [0, 10, 20, 30, 40, 50, 60]
    assert retrains_seen == [1, 1, 2, 2, 3]
    assert [r["success_rate"] for r in callback.rows] == [0.0, 0.0] + [0.5] * 5
    assert [r["mean_return"] for r in callback.rows] == [-10.0, -10.0] + [-7.0] * 5
    lengths = [v for tag, v, _ in logs if tag == "rollout/ep_len_mean"]
    assert len(lengths) == 3 and all(v == 15 for v in lengths)  # one full episode per iteration
    tags = {t for t, _, _ in logs}
    assert {"rollout/ep_rew_mean", "time/fps", "eval/success_rate", "eval/mean_reward"} <= tags
