"""World models behind one interface (:class:`WorldModel`; :class:`TrainableWorldModel` to train
them) and the registry of model types (:data:`WORLD_MODELS`)."""

from grasp_agent.models.base import TrainableWorldModel, WorldModel, check_trainable, check_world_model
from grasp_agent.models.blocks import ActionBlockModel, block_action_space, unblock_actions
from grasp_agent.models.ensemble import EnsembleWorldModel
from grasp_agent.models.gru import GRUWorldModel
from grasp_agent.models.heads import TaskHeads, load_task_heads
from grasp_agent.models.heads_fit import fit_task_heads
from grasp_agent.models.io import load_into, load_world_model, save_world_model
from grasp_agent.models.mlp import MLPWorldModel
from grasp_agent.models.normalizer import Normalizer
from grasp_agent.models.registry import (
    WORLD_MODELS,
    infer_encoder,
    make_world_model,
    register_world_model,
    unregister_world_model,
)
from grasp_agent.models.transformer import TransformerWorldModel

__all__ = ["WorldModel", "check_world_model", "TrainableWorldModel", "check_trainable", "MLPWorldModel",
           "Normalizer", "save_world_model", "load_world_model", "load_into", "GRUWorldModel",
           "TransformerWorldModel", "ActionBlockModel", "block_action_space", "unblock_actions",
           "WORLD_MODELS", "register_world_model", "unregister_world_model", "make_world_model",
           "infer_encoder", "TaskHeads", "fit_task_heads", "load_task_heads", "EnsembleWorldModel"]
