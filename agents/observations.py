"""Reading start and goal latents out of (batched) env observations for a planner agent.

Rules (one place, so every planner agent behaves the same):

* Goal-conditioned ``Dict`` observations (``observation`` / ``achieved_goal`` /
  ``desired_goal``):

  - **latent** (behind :class:`grasp_agent.wrappers.LatentGoalWrapper`): start = ``achieved_goal``,
    goal = ``desired_goal``, used as they are (already in the model's latent space).
  - **raw**: start = ``model.encode(observation)``, goal = ``model.encode(desired_goal)``.

* Plain (``Box``) observations, or a Dict without ``desired_goal``: start as above, the goal
  comes from the agent's ``goal=`` (given in the same form as observations); no goal is an error.

These rules are for the default objective, a goal latent. For an objective whose targets live
in another space (a goal in the env's ``achieved_goal`` space: :meth:`GoalObservationReader.read`
with ``target_dim=G``) the target is ``desired_goal`` (or the agent's ``goal=``) as it is,
flattened to ``G`` entries; for one without targets (a return, ``target_dim=0``) only the start
is read.

Which of latent/raw applies is ``latent_goals``: ``True``/``False``, or ``None`` (auto): latent
when one observation has shape ``(model.latent_dim,)``, raw otherwise. Auto is exact for
identity encoders (``MLPWorldModel``) and for image models; for a model whose encoder maps a
``D``-dim observation to a different ``D``-dim latent, pass ``latent_goals=False``
(``GRASPAgent.from_env`` sets it from the wrapper chain).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from grasp_agent.models.base import WorldModel
from grasp_agent.models.latent import LatentWorldModel

GOAL_KEY, START_KEYS = "desired_goal", ("achieved_goal", "observation")


class GoalObservationReader:
    """Turn observations into ``(z0 (B, D), z_goal (B, D), single)`` on ``device``.

    Args:
        model: the world model (its ``encode`` and ``latent_dim``).
        observation_space: the env's space (``Dict`` or ``Box``); fixes the expected
            per-sample shape. Without it: ``(D,)`` in latent mode, else ``model.obs_shape`` for
            the package's GRU/Transformer models (:class:`~grasp_agent.models.latent.LatentWorldModel`),
            else ``(D,)`` (pass ``observation_space`` for other encoders).
        latent_goals: see the module docstring.
    """

    def __init__(self, model: WorldModel, observation_space: spaces.Space | None = None,
                 latent_goals: bool | None = None) -> None:
        self.model = model
        self.latent_goals = latent_goals
        self.observation_space = observation_space
        d = model.latent_dim
        space = observation_space
        if isinstance(space, spaces.Dict):
            if "observation" not in space.spaces:
                raise ValueError(f"a Dict observation space needs an 'observation' key, got "
                                 f"{list(space.spaces)}")
            space = space["observation"]
        if space is not None and not isinstance(space, spaces.Box):
            raise TypeError(f"planner agents need Box observations (or a Dict of Boxes), got "
                            f"{type(space).__name__}")
        if space is not None:
            self.sample_shape = tuple(space.shape)
        elif latent_goals:
            self.sample_shape = (d,)
        else:
            self.sample_shape = model.obs_shape if isinstance(model, LatentWorldModel) else (d,)
        self.latent = latent_goals if latent_goals is not None else self.sample_shape == (d,)
        if self.latent and self.sample_shape != (d,):
            raise ValueError(f"latent_goals=True but observations have shape {self.sample_shape}, not the "
                             f"model's latent shape ({d},); wrap the env in LatentGoalWrapper(env, model) or "
                             "pass latent_goals=False so the agent encodes them")
        self._space = space

    def check_encodes(self) -> None:
        """At construction: the model encodes one observation of the env's space to ``(1, D)``
        (a zero observation of its shape and dtype), so a model trained on another env fails
        here with both shapes named instead of at the first ``predict``."""
        if self.latent or self._space is None:
            return
        probe = np.zeros((1,) + self.sample_shape, dtype=self._space.dtype)
        try:
            self._to_latent(probe, "an observation of the env's observation space", self.model.device)
        except ValueError as err:
            raise ValueError(f"the world model does not take this env's observations (shape "
                             f"{self.sample_shape}, {np.dtype(self._space.dtype).name}): {err}") from err

    # ------------------------------------------------------------------ parsing
    def _batch(self, x: Any, name: str) -> tuple[np.ndarray, bool]:
        """``x`` as ``(B, *sample_shape)`` and whether it was a single sample."""
        arr = np.asarray(x)
        if arr.shape == self.sample_shape:
            return arr[None], True
        if arr.ndim == len(self.sample_shape) + 1 and arr.shape[1:] == self.sample_shape:
            return arr, False
        mode = "latent" if self.latent else "raw"
        raise ValueError(
            f"{name} has shape {arr.shape}, but the agent expects {self.sample_shape} per sample (or a batch "
            f"(B, {', '.join(map(str, self.sample_shape))})) in {mode} mode: the world model was trained on "
            f"{f'latents of dim {self.model.latent_dim}' if self.latent else 'observations of that shape'}. "
            "Check the env/obs_mode matches the model, or set latent_goals= (True behind LatentGoalWrapper)")

    def _to_latent(self, arr: np.ndarray, name: str, device: torch.device) -> torch.Tensor:
        if self.latent:
            z = torch.as_tensor(arr, dtype=torch.float32, device=device)
        else:
            was_training = self.model.training
            self.model.eval()
            try:
                with torch.no_grad():
                    z = self.model.encode(torch.as_tensor(arr, device=self.model.device))
            except (RuntimeError, ValueError) as err:
                raise ValueError(f"model.encode failed on {name} of shape {arr.shape}: {err}; the "
                                 "observation does not match what the world model was trained on") from err
            finally:
                self.model.train(was_training)
            z = z.detach().to(device, torch.float32)
        if z.ndim != 2 or z.shape[1] != self.model.latent_dim:
            raise ValueError(f"{name} gave latents of shape {tuple(z.shape)}, expected "
                             f"(B, {self.model.latent_dim})")
        if not torch.isfinite(z).all():
            raise ValueError(f"{name} contains NaN or inf; check the env observation")
        return z

    def _start(self, observation: Any, device: torch.device) -> tuple[torch.Tensor, bool]:
        """``z0 (B, D)`` encoded from ``observation["observation"]`` (or the plain observation)."""
        if isinstance(observation, dict):
            if "observation" not in observation:
                raise ValueError(f"observation dict has keys {sorted(observation)}; it needs 'observation'")
            observation = observation["observation"]
        start, single = self._batch(observation, "observation")
        return self._to_latent(start, "observation", device), single

    def _target(self, observation: Any, goal: Any, batch: int, dim: int, device: torch.device
                ) -> torch.Tensor:
        """``(B, dim)`` targets: ``desired_goal`` of a Dict observation, else the agent's ``goal``."""
        src, name = None, "goal"
        if isinstance(observation, dict):
            src, name = observation.get(GOAL_KEY), f"observation[{GOAL_KEY!r}]"
        if src is None:
            src, name = goal, "goal"
        if src is None:
            raise ValueError("no goal: the observation has no 'desired_goal'; pass goal= to the agent (a "
                             f"goal of {dim} entries, in the env's goal space) or call agent.set_goal(goal)")
        arr = np.asarray(src, dtype=np.float32)
        if arr.size == dim:
            arr = np.repeat(arr.reshape(1, dim), batch, axis=0)
        elif arr.ndim >= 1 and arr.shape[0] == batch and arr.size == batch * dim:
            arr = arr.reshape(batch, dim)
        else:
            raise ValueError(f"{name} has shape {arr.shape}, but the objective takes goals of {dim} entries "
                             f"(or a batch ({batch}, {dim})): the goal map / goal head predicts {dim} "
                             "numbers")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf")
        return torch.as_tensor(arr, device=device)

    def read(self, observation: Any, goal: Any, device: torch.device, target_dim: int | None = None
             ) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
        """Return ``z0 (B, D)``, the targets and whether ``observation`` was unbatched.

        Args:
            observation: one observation or a VecEnv batch (dict of arrays or an array).
            goal: the agent's fixed goal (same form as one observation, or a batch), or None.
            target_dim: ``None``: goal latents ``(B, D)`` (the rules of the module docstring);
                ``G > 0``: goals ``(B, G)`` in the objective's goal space, not encoded; ``0``: no
                targets (``None`` is returned).
        """
        if target_dim is not None:
            z0, single = self._start(observation, device)
            if target_dim == 0:
                return z0, None, single
            return z0, self._target(observation, goal, z0.shape[0], target_dim, device), single
        return self._read_latent_goal(observation, goal, device)

    def _read_latent_goal(self, observation: Any, goal: Any, device: torch.device
                          ) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Start and goal latents by the rules of the module docstring."""
        if isinstance(observation, dict):
            key = next((k for k in START_KEYS if k in observation and self.latent), "observation")
            if key not in observation:
                raise ValueError(f"observation dict has keys {sorted(observation)}; it needs 'observation' "
                                 "(and 'desired_goal' for goal-conditioned planning)")
            start, single = self._batch(observation[key], f"observation[{key!r}]")
            goal_src, goal_name = observation.get(GOAL_KEY), f"observation[{GOAL_KEY!r}]"
        else:
            start, single = self._batch(observation, "observation")
            goal_src, goal_name = None, "goal"
        if goal_src is None:
            if goal is None:
                raise ValueError("no goal: the observation has no 'desired_goal'; pass goal= to the agent "
                                 "(or call agent.set_goal(goal)) in the same form as an observation")
            goal_src, goal_name = goal, "goal"
        goal_arr, _ = self._batch(goal_src, goal_name)
        if goal_arr.shape[0] == 1 and start.shape[0] > 1:
            goal_arr = np.repeat(goal_arr, start.shape[0], axis=0)
        if goal_arr.shape[0] != start.shape[0]:
            raise ValueError(f"{goal_name} has batch size {goal_arr.shape[0]} but the observation has "
                             f"{start.shape[0]}")
        if not self.latent and goal_arr.shape == start.shape:
            both = self._to_latent(np.concatenate([start, goal_arr]), "observation/goal", device)
            return both[:start.shape[0]], both[start.shape[0]:], single
        z_goal = self._to_latent(goal_arr, goal_name, device)
        return self._to_latent(start, "observation", device), z_goal, single
