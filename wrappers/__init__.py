"""Gymnasium wrappers for planning with learned world models.

* :class:`LatentGoalWrapper`: goal-conditioned Dict env -> latents of an encoder, with a
  vectorised latent ``compute_reward`` (SB3 ``HerReplayBuffer`` ready).
* :class:`DiscreteToBoxWrapper`: ``Discrete(n)`` -> ``Box(-1, 1, (n,))`` scores, argmax to the env.
* :class:`SuccessInfoWrapper`: ``info["is_success"]`` from the env's own success key
  (Gymnasium-Robotics' ``info["success"]``), so ``EvalCallback`` reports a success rate.

MiniGridGoalEnv already returns fixed-size observations, so minigrid needs no extra wrapper.
"""

from grasp_agent.wrappers.discrete_to_box import DiscreteToBoxWrapper
from grasp_agent.wrappers.latent_goal import LatentGoalWrapper
from grasp_agent.wrappers.success import SuccessInfoWrapper, success_from_info

__all__ = ["DiscreteToBoxWrapper", "LatentGoalWrapper", "SuccessInfoWrapper", "success_from_info"]
