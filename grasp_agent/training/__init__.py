"""Training world models: the transition trainer and the resumable buffer-based pipeline."""

from grasp_agent.training.checkpoint import (
    load_training_checkpoint,
    model_from_training_checkpoint,
    save_training_checkpoint,
)
from grasp_agent.training.loop import FitConfig, FitResult, fit_world_model
from grasp_agent.training.metrics import latent_errors
from grasp_agent.training.pipeline import TrainedWorldModel, train_from_env
from grasp_agent.training.trainer import TrainConfig, TrainResult, train_world_model

__all__ = ["TrainConfig", "TrainResult", "train_world_model", "FitConfig", "FitResult", "fit_world_model",
           "latent_errors", "save_training_checkpoint", "load_training_checkpoint",
           "model_from_training_checkpoint", "TrainedWorldModel", "train_from_env"]
