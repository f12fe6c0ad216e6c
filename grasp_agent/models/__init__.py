"""World models behind one interface (:class:`WorldModel`)."""

from grasp_agent.models.base import WorldModel, check_world_model
from grasp_agent.models.blocks import ActionBlockModel, block_action_space, unblock_actions
from grasp_agent.models.gru import GRUWorldModel
from grasp_agent.models.io import load_into, load_world_model, save_world_model
from grasp_agent.models.mlp import MLPWorldModel
from grasp_agent.models.normalizer import Normalizer
from grasp_agent.models.transformer import TransformerWorldModel

__all__ = ["WorldModel", "check_world_model", "MLPWorldModel", "Normalizer", "save_world_model",
           "load_world_model", "load_into", "GRUWorldModel", "TransformerWorldModel", "ActionBlockModel",
           "block_action_space", "unblock_actions"]
