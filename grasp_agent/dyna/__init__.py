"""Dyna-style data collection: real and imagined transitions for an SB3 off-policy learner."""

from grasp_agent.dyna.imagine import imagine_episodes
from grasp_agent.dyna.loop import DynaConfig, DynaLoop, IterationStats
from grasp_agent.dyna.sb3_buffer import SB3BufferWriter, ensure_logger

__all__ = ["DynaConfig", "DynaLoop", "IterationStats", "SB3BufferWriter", "ensure_logger", "imagine_episodes"]
