"""Training world models: the one resumable trainer over a ReplayBuffer, the task heads and the one-call
pipeline."""

from grasp_agent.models.heads import TaskHeads, load_task_heads
from grasp_agent.models.heads_fit import fit_task_heads
from grasp_agent.training.checkpoint import (
    load_training_checkpoint,
    model_from_training_checkpoint,
    save_training_checkpoint,
)
from grasp_agent.training.loop import FitConfig, FitResult, fit_world_model
from grasp_agent.training.metrics import latent_errors
from grasp_agent.training.pipeline import TrainedWorldModel, train_from_env
from grasp_agent.training.report import evaluate_world_model, write_model_report

__all__ = ["FitConfig", "FitResult", "fit_world_model", "latent_errors", "save_training_checkpoint",
           "load_training_checkpoint", "model_from_training_checkpoint", "TrainedWorldModel",
           "train_from_env", "TaskHeads", "fit_task_heads", "load_task_heads", "evaluate_world_model",
           "write_model_report"]
