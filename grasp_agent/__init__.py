"""grasp-agent: long-horizon planning with learned world models (GRASP) for Gymnasium and SB3."""

from grasp_agent import envs as _envs  # noqa: F401  (registers the environments)
from grasp_agent.agent import GRASPAgent, PlannerAgent, agent_from_env
from grasp_agent.data import ReplayBuffer, collect
from grasp_agent.models import (
    GRUWorldModel,
    MLPWorldModel,
    TransformerWorldModel,
    WorldModel,
    load_world_model,
    save_world_model,
)
from grasp_agent.planners import (
    CEMConfig,
    CEMPlanner,
    GDConfig,
    GDPlanner,
    GRASPConfig,
    GRASPPlanner,
    LatCoConfig,
    LatCoPlanner,
    MPPIConfig,
    MPPIPlanner,
    Planner,
)
from grasp_agent.training import train_from_env, train_world_model
from grasp_agent.types import PlanResult, PlanStep

__version__ = "0.1.0"

__all__ = [
    "WorldModel", "MLPWorldModel", "GRUWorldModel", "TransformerWorldModel", "save_world_model",
    "load_world_model", "GRASPAgent", "PlannerAgent", "agent_from_env", "ReplayBuffer", "collect",
    "train_from_env", "train_world_model",
    "Planner", "GRASPPlanner", "GRASPConfig", "GDPlanner", "GDConfig", "CEMPlanner", "CEMConfig",
    "MPPIPlanner", "MPPIConfig", "LatCoPlanner", "LatCoConfig",
    "PlanResult", "PlanStep", "__version__",
]
