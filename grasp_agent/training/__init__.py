"""Training world models."""

from grasp_agent.training.trainer import TrainConfig, TrainResult, train_world_model

__all__ = ["TrainConfig", "TrainResult", "train_world_model"]
