"""Dyna-style data collection: real and imagined transitions for an SB3 off-policy learner."""

from grasp_agent.dyna.sb3_buffer import SB3BufferWriter

__all__ = ["SB3BufferWriter"]
