"""Goal-conditioned environments, registered under the ``grasp_agent/`` namespace on import.

``gymnasium.make("grasp_agent/WallDoor-v0")`` etc. Entry points are strings, so optional
dependencies (pybullet, minigrid) are imported only when that environment is made.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

ENV_SPECS: dict[str, tuple[str, int]] = {
    # id: (entry point, max_episode_steps)
    "grasp_agent/WallDoor-v0": ("grasp_agent.envs.wall_door:WallDoorEnv", 200),
    "grasp_agent/PointMaze-v0": ("grasp_agent.envs.point_maze:PointMazeEnv", 400),
    "grasp_agent/Reacher-v0": ("grasp_agent.envs.reacher:ReacherEnv", 100),
    "grasp_agent/PushBlock-v0": ("grasp_agent.envs.push_block:PushBlockEnv", 300),
    "grasp_agent/MiniGridGoal-v0": ("grasp_agent.envs.minigrid_goal:MiniGridGoalEnv", 200),
}


def register_envs() -> None:
    """Register every environment id once (idempotent)."""
    for env_id, (entry_point, max_steps) in ENV_SPECS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=entry_point, max_episode_steps=max_steps)


register_envs()

from grasp_agent.envs.push_block_script import (  # noqa: E402
    ScriptedPusher,
    block_motion_fraction,
    split_by_block_motion,
)

__all__ = ["ENV_SPECS", "ScriptedPusher", "block_motion_fraction", "register_envs", "split_by_block_motion"]
