"""grasp-agent: long-horizon planning with learned world models (GRASP) for Gymnasium and SB3.

``grasp_agent.__all__`` is the public API; the subpackages (``grasp_agent.planners``,
``.models``, ``.agents``, ``.wrappers``, ``.data``, ``.training``, ``.dyna``, ``.experiments``)
hold the rest.
"""

from grasp_agent import _layout

_layout.install()  # a source checkout maps agents/, wrappers/, experiments/ into this namespace

from grasp_agent import envs as _envs  # noqa: E402,F401  (registers the environments)
from grasp_agent.agents import (  # noqa: E402
    Agent,
    CEMAgent,
    GDAgent,
    GoalDirectedAgent,
    GRASPAgent,
    ICEMAgent,
    LatCoAgent,
    MPPIAgent,
    PlannerAgent,
    PlanState,
    RandomAgent,
    SB3Agent,
    agent_names,
    make_agent,
)
from grasp_agent.data import ReplayBuffer, collect  # noqa: E402
from grasp_agent.dyna import DynaConfig, DynaLoop  # noqa: E402
from grasp_agent.models import (  # noqa: E402
    ActionBlockModel,
    GRUWorldModel,
    MLPWorldModel,
    TrainableWorldModel,
    TransformerWorldModel,
    WorldModel,
    load_world_model,
    make_world_model,
    register_world_model,
    save_world_model,
)
from grasp_agent.planners import (  # noqa: E402
    PLANNERS,
    CEMConfig,
    CEMPlanner,
    CostFunction,
    GDConfig,
    GDPlanner,
    GoalInSubspace,
    GRASPConfig,
    GRASPPlanner,
    ICEMConfig,
    ICEMPlanner,
    LatCoConfig,
    LatCoPlanner,
    LatentGoal,
    MPPIConfig,
    MPPIPlanner,
    Objective,
    Planner,
    Return,
    register_planner,
)
from grasp_agent.training import FitConfig, fit_world_model, train_from_env  # noqa: E402
from grasp_agent.types import PlanResult, PlanStep  # noqa: E402
from grasp_agent.wrappers import DiscreteToBoxWrapper, LatentGoalWrapper, SuccessInfoWrapper  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    # world models
    "WorldModel", "TrainableWorldModel", "MLPWorldModel", "GRUWorldModel", "TransformerWorldModel",
    "ActionBlockModel", "save_world_model", "load_world_model", "register_world_model", "make_world_model",
    # planners
    "Planner", "PLANNERS", "register_planner", "GRASPPlanner", "GRASPConfig", "GDPlanner", "GDConfig",
    "CEMPlanner", "CEMConfig", "MPPIPlanner", "MPPIConfig", "LatCoPlanner", "LatCoConfig",
    "ICEMPlanner", "ICEMConfig",
    "Objective", "LatentGoal", "GoalInSubspace", "Return", "CostFunction",
    "PlanResult", "PlanStep",
    # agents
    "Agent", "PlannerAgent", "PlanState", "GRASPAgent", "CEMAgent", "MPPIAgent", "GDAgent",
    "LatCoAgent", "ICEMAgent", "RandomAgent", "GoalDirectedAgent", "SB3Agent", "make_agent", "agent_names",
    # wrappers
    "LatentGoalWrapper", "DiscreteToBoxWrapper", "SuccessInfoWrapper",
    # data, training, Dyna
    "ReplayBuffer", "collect", "FitConfig", "fit_world_model", "train_from_env", "DynaLoop",
    "DynaConfig",
    "__version__",
]
