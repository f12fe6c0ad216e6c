"""Every model type learns WallDoor to a stated accuracy, and GRASP, GD and CEM plan with it.

Bound: after 400 gradient steps on 4,000 random WallDoor steps, the open-loop 10-step latent
error on held-out episodes, normalised by the latent variance (``val/multi_step_latent_nmse``,
1.0 = predicting the mean latent), is below ``MULTI_STEP_BOUND``. Measured on 2 CPU cores:
MLP ~0.04, GRU ~0.06, transformer ~0.10.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from grasp_agent.data import collect
from grasp_agent.models import make_world_model
from grasp_agent.planners import CEMConfig, CEMPlanner, GDConfig, GDPlanner, GRASPConfig, GRASPPlanner
from grasp_agent.training import FitConfig, fit_world_model

MULTI_STEP_BOUND = 0.2
KINDS = {
    "mlp": {"hidden_sizes": (64, 64)},
    "gru": {"latent_dim": 8, "encoder_hidden": (64,), "input_hidden": (64,), "input_dim": 32},
    "transformer": {"latent_dim": 8, "encoder_hidden": (64,), "d_model": 32, "n_heads": 2, "n_layers": 1,
                    "context": 3},
}
FIT = FitConfig(max_steps=400, eval_every=100, eval_horizon=10, seq_len=4, batch_size=32, eval_size=128,
                lr=3e-3, device="cpu")
HORIZON = 15
START, GOAL = (0.68, 0.3), (0.85, 0.42)  # free space right of the wall, 0.21 apart (<= 15 steps)
PLANNERS = {
    "grasp": (GRASPPlanner, GRASPConfig(iterations=80, sync_every=20, sync_steps=5)),
    "gd": (GDPlanner, GDConfig(iterations=60)),
    "cem": (CEMPlanner, CEMConfig(iterations=8, num_samples=64, num_elites=8)),
}


@pytest.fixture(scope="module")
def walldoor_buffer():
    return collect("grasp_agent/WallDoor-v0", 4000, num_envs=4, seed=0, progress=False,
                   env_kwargs={"tasks": "any"})


@pytest.fixture(scope="module", params=list(KINDS))
def trained(request, walldoor_buffer):
    torch.manual_seed(0)
    env = gym.make("grasp_agent/WallDoor-v0")
    model = make_world_model(request.param, env.observation_space, env.action_space, **KINDS[request.param])
    result = fit_world_model(model, walldoor_buffer, FIT)
    return request.param, model, result


@pytest.mark.slow
def test_model_learns_walldoor_below_the_multi_step_bound(trained):
    kind, _, result = trained
    nmse = result.history["val/multi_step_latent_nmse"]
    # measured (seed 0; ATEN_CPU_CAPABILITY default and best, 1 and 2 threads, identical to 4 digits):
    # MLP 0.037, GRU 0.038, transformer 0.069 (one-step 0.0006-0.0015)
    assert nmse[-1] < MULTI_STEP_BOUND, f"{kind}: {nmse}"
    assert result.history["val/one_step_latent_nmse"][-1] < nmse[-1]  # errors compound over steps
    assert nmse[-1] < nmse[0] or nmse[0] < MULTI_STEP_BOUND / 2


@pytest.mark.slow
@pytest.mark.parametrize("planner_name", list(PLANNERS))
def test_planners_reach_a_free_space_goal_with_every_model(trained, planner_name):
    kind, model, _ = trained
    env = gym.make("grasp_agent/WallDoor-v0", tasks="any")
    obs, _ = env.reset(seed=0, options={"start": np.array(START), "goal": np.array(GOAL)})
    with torch.no_grad():
        z0 = model.encode(torch.as_tensor(obs["observation"])[None])
        zg = model.encode(torch.as_tensor(obs["desired_goal"])[None])
    cls, cfg = PLANNERS[planner_name]
    result = cls(model, env.action_space, HORIZON, cfg).plan(z0, zg)
    start_dist = float(np.linalg.norm(obs["observation"] - obs["desired_goal"]))
    for action in result.actions[0].cpu().numpy():
        obs, *_ = env.step(action)
    final = float(np.linalg.norm(obs["observation"] - obs["desired_goal"]))
    # The learned 8-dim latents (GRU, transformer) plan less precisely than the MLP's exact
    # state space after 400 steps of training (measured: MLP ~0.02, learned 0.10-0.125 from 0.208).
    # measured (seed 0, best kernels, 1 thread; the models' nmse above is kernel-independent): final
    # 0.031-0.080 over the 9 model/planner pairs, bound 0.135
    assert final < 0.65 * start_dist, f"{kind}/{planner_name}: {start_dist:.3f} -> {final:.3f}"
