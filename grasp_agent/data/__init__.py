"""Experience data: a replay buffer of episodes and collection through vector envs."""

from grasp_agent.data.buffer import ReplayBuffer
from grasp_agent.data.collect import RandomPolicy, buffer_for, collect, make_vector_env
from grasp_agent.data.recorder import VectorRecorder

__all__ = ["ReplayBuffer", "VectorRecorder", "RandomPolicy", "collect", "buffer_for", "make_vector_env"]
