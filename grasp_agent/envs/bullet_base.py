"""Shared pybullet plumbing for the planar goal-conditioned environments.

Every environment here owns one headless physics server (``pybullet.DIRECT``) through a
``BulletClient``, builds its scene from primitive shapes, and keeps all of its dynamic state in the
joints of "planar" multibodies: a fixed base with prismatic x / y joints (and optionally a revolute
yaw joint), so bodies can never leave the plane, tip over or spin out of it. One env step applies the
action for ``FRAME_SKIP`` physics steps of ``TIME_STEP`` seconds.

Pixel observations come from a fixed top-down camera (ER_TINY_RENDERER, no shadows, light from
above). The camera is a narrow-angle perspective camera far above the scene, so world x/y map almost
linearly to pixels (see ``TopDownCamera.pixel_to_world``); objects are segmented by colour
(``colour_mask``) when ``compute_reward`` has to judge images.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

try:
    import pybullet
    from pybullet_utils.bullet_client import BulletClient
except ImportError as exc:  # pragma: no cover - exercised only without the optional dependency
    raise ImportError(
        "The pybullet environments need the optional dependency pybullet: "
        "pip install 'grasp-agent[pybullet]' (or pip install pybullet)."
    ) from exc

logger = logging.getLogger(__name__)

CAMERA_HEIGHT = 40.0  # metres above the floor; far away -> nearly orthographic top-down view
CAMERA_NEAR = 1.0
CAMERA_FAR = 60.0
FLOOR_RGBA = (0.92, 0.92, 0.92, 1.0)
WALL_RGBA = (0.3, 0.3, 0.3, 1.0)
MASK_MIN_BRIGHTNESS = 60  # sum of RGB below this is treated as too dark to classify
MASK_CHROMA_TOL = 0.12  # max L1 distance between normalised colours for a pixel to match


def new_client(time_step: float) -> BulletClient:
    """Start a headless physics server with a fixed time step, gravity and deterministic pairs."""
    client = BulletClient(connection_mode=pybullet.DIRECT)
    client.setTimeStep(time_step)
    client.setGravity(0.0, 0.0, -9.81)
    client.setPhysicsEngineParameter(deterministicOverlappingPairs=1)
    return client


def close_client(client: BulletClient | None) -> None:
    """Disconnect ``client`` if it is still connected (safe to call on an already closed client)."""
    if client is None:
        return
    client_id = client._client  # BulletClient keeps the server id here; -1 once disconnected
    if client_id >= 0 and pybullet.isConnected(physicsClientId=client_id):
        client.disconnect()
    client._client = -1


def add_box(client: BulletClient, half_extents: Sequence[float], position: Sequence[float],
            rgba: Sequence[float], collide: bool = True) -> int:
    """Create a static (mass 0) box; ``collide=False`` makes a purely visual one (e.g. the floor)."""
    col = client.createCollisionShape(pybullet.GEOM_BOX, halfExtents=list(half_extents)) if collide else -1
    vis = client.createVisualShape(pybullet.GEOM_BOX, halfExtents=list(half_extents), rgbaColor=list(rgba))
    return client.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=col, baseVisualShapeIndex=vis,
                                  basePosition=list(position))


def add_floor(client: BulletClient, bounds: Sequence[float], margin: float = 0.5) -> int:
    """Visual-only floor covering ``bounds = (xmin, xmax, ymin, ymax)`` plus ``margin``."""
    xmin, xmax, ymin, ymax = bounds
    half = [(xmax - xmin) / 2 + margin, (ymax - ymin) / 2 + margin, 0.005]
    centre = [(xmax + xmin) / 2, (ymax + ymin) / 2, -0.005]
    return add_box(client, half, centre, FLOOR_RGBA, collide=False)


def create_planar_body(client: BulletClient, collision: int, visual: int, mass: float, height: float,
                       damping: Sequence[float], yaw: bool = False, inertia_z: float | None = None) -> int:
    """A body constrained to the plane ``z = height``: joints 0 (x, prismatic), 1 (y), [2 (yaw)].

    The carrier links before the last one are massless-like (1 % of ``mass``) and have no shape.
    ``damping`` gives the viscous joint damping per joint (N s/m or N m s/rad); default motors are
    switched off, so the joints move only under ``apply_joint_forces`` and contacts.
    """
    n_links = 3 if yaw else 2
    carrier = 0.01 * mass
    masses = [carrier] * (n_links - 1) + [mass]
    cols = [-1] * (n_links - 1) + [collision]
    vis = [-1] * (n_links - 1) + [visual]
    types = [pybullet.JOINT_PRISMATIC, pybullet.JOINT_PRISMATIC] + ([pybullet.JOINT_REVOLUTE] if yaw else [])
    axes = [[1, 0, 0], [0, 1, 0]] + ([[0, 0, 1]] if yaw else [])
    zeros, ident = [[0.0, 0.0, 0.0]] * n_links, [[0.0, 0.0, 0.0, 1.0]] * n_links
    body = client.createMultiBody(
        baseMass=0.0, basePosition=[0.0, 0.0, height], linkMasses=masses,
        linkCollisionShapeIndices=cols, linkVisualShapeIndices=vis, linkPositions=zeros,
        linkOrientations=ident, linkInertialFramePositions=zeros, linkInertialFrameOrientations=ident,
        linkParentIndices=list(range(n_links)), linkJointTypes=types, linkJointAxis=axes)
    if len(damping) != n_links:
        raise ValueError(f"damping needs one value per joint ({n_links}), got {len(damping)}")
    for j in range(n_links):
        client.setJointMotorControl2(body, j, pybullet.VELOCITY_CONTROL, force=0.0)
        client.changeDynamics(body, j, jointDamping=float(damping[j]), linearDamping=0.0, angularDamping=0.0)
    if inertia_z is not None:
        client.changeDynamics(body, n_links - 1, localInertiaDiagonal=[inertia_z, inertia_z, inertia_z])
    return body


def joint_states(client: BulletClient, body: int, joints: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities of ``joints`` as two float64 arrays of shape (len(joints),)."""
    states = client.getJointStates(body, list(joints))
    return np.array([s[0] for s in states]), np.array([s[1] for s in states])


def set_joint_states(client: BulletClient, body: int, positions: Sequence[float],
                     velocities: Sequence[float] | None = None) -> None:
    """Teleport joints 0..n-1 of ``body`` (velocities default to zero); no physics step is taken."""
    for j, q in enumerate(positions):
        v = 0.0 if velocities is None else float(velocities[j])
        client.resetJointState(body, j, float(q), v)


def apply_joint_forces(client: BulletClient, body: int, forces: Sequence[float]) -> None:
    """Apply generalised forces to joints 0..n-1 for the next physics step only."""
    client.setJointMotorControlArray(body, list(range(len(forces))), pybullet.TORQUE_CONTROL,
                                     forces=[float(f) for f in forces])


def in_contact(client: BulletClient, body: int, others: set[int] | frozenset[int]) -> bool:
    """Whether ``body`` has a contact point with any body in ``others`` after the last step."""
    return any(c[2] in others for c in client.getContactPoints(bodyA=body))


class TopDownCamera:
    """A fixed camera looking straight down on ``bounds = (xmin, xmax, ymin, ymax)`` (square image).

    Image row 0 is the top (largest y), column 0 the left (smallest x).
    """

    def __init__(self, client: BulletClient, bounds: Sequence[float], image_size: int) -> None:
        xmin, xmax, ymin, ymax = (float(b) for b in bounds)
        self.centre = ((xmin + xmax) / 2, (ymin + ymax) / 2)
        self.half_extent = max(xmax - xmin, ymax - ymin) / 2
        self.image_size = int(image_size)
        fov = math.degrees(2 * math.atan(self.half_extent / CAMERA_HEIGHT))
        cx, cy = self.centre
        self.view = client.computeViewMatrix([cx, cy, CAMERA_HEIGHT], [cx, cy, 0.0], [0.0, 1.0, 0.0])
        self.proj = client.computeProjectionMatrixFOV(fov, 1.0, CAMERA_NEAR, CAMERA_FAR)

    def render(self, client: BulletClient) -> np.ndarray:
        """Render the scene: uint8 array of shape (image_size, image_size, 3)."""
        size = self.image_size
        _, _, rgba, _, _ = client.getCameraImage(
            size, size, self.view, self.proj, renderer=pybullet.ER_TINY_RENDERER, shadow=0,
            lightDirection=[0.0, 0.0, 1.0], flags=pybullet.ER_NO_SEGMENTATION_MASK)
        return np.asarray(rgba, dtype=np.uint8).reshape(size, size, 4)[:, :, :3].copy()

    def pixel_to_world(self, uv: np.ndarray) -> np.ndarray:
        """Map pixel coordinates (..., 2) as (column, row) to floor-plane world (x, y), shape (..., 2)."""
        uv = np.asarray(uv, dtype=np.float64)
        scale = 2 * self.half_extent / self.image_size
        x = self.centre[0] + (uv[..., 0] + 0.5) * scale - self.half_extent
        y = self.centre[1] + self.half_extent - (uv[..., 1] + 0.5) * scale
        return np.stack([x, y], axis=-1)


def colour_mask(images: np.ndarray, rgb: Sequence[float]) -> np.ndarray:
    """Pixels whose chromaticity matches ``rgb`` (shading-invariant).

    (..., H, W, 3) uint8 -> (..., H, W) bool.
    """
    img = np.asarray(images, dtype=np.float32)
    total = img.sum(axis=-1, keepdims=True)
    chroma = img / np.maximum(total, 1.0)
    ref = np.asarray(rgb, dtype=np.float32)
    ref = ref / ref.sum()
    return (np.abs(chroma - ref).sum(axis=-1) < MASK_CHROMA_TOL) & (total[..., 0] > MASK_MIN_BRIGHTNESS)


def mask_centroid(mask: np.ndarray) -> np.ndarray:
    """Mean (column, row) of true pixels: (..., H, W) bool -> (..., 2) float64, NaN where empty."""
    mask = np.asarray(mask, dtype=np.float64)
    h, w = mask.shape[-2:]
    count = mask.sum(axis=(-2, -1))
    cols = (mask * np.arange(w)[None, :]).sum(axis=(-2, -1))
    rows = (mask * np.arange(h)[:, None]).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([cols / count, rows / count], axis=-1)


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of two boolean masks (..., H, W) -> (...); 0 where both are empty."""
    inter = np.logical_and(a, b).sum(axis=(-2, -1))
    union = np.logical_or(a, b).sum(axis=(-2, -1))
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def wrap_angle(theta: np.ndarray) -> np.ndarray:
    """Wrap angles to [-pi, pi)."""
    return (np.asarray(theta) + np.pi) % (2 * np.pi) - np.pi


class BulletGoalEnv(gym.Env):
    """Base class: Dict goal observations, option checking, stepping, pixels and closing.

    Subclasses build the scene and implement the hooks below; the physical state lives in the joints
    of planar bodies, so a "configuration" is the list of joint positions per body
    (``_set_configuration``). ``achieved_goal`` is the current observation and ``desired_goal`` the
    observation of the goal configuration with zero velocities (in pixel mode: its rendered image,
    drawn once per reset). Episodes end only through the registered ``TimeLimit`` unless
    ``terminate_on_success=True``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    TIME_STEP = 0.01  # seconds per physics step
    FRAME_SKIP = 5  # physics steps per env step
    OPTION_KEYS = ("start", "goal", "min_path_length")
    ACTION_PERSISTS = False  # True for motor (velocity) control: set once per env step, not per physics step
    success_threshold: float = 0.0

    def __init__(self, obs_mode: str = "state", image_size: int = 64, render_mode: str | None = None,
                 terminate_on_success: bool = False) -> None:
        if obs_mode not in ("state", "pixels"):
            raise ValueError(f"obs_mode must be 'state' or 'pixels', got {obs_mode!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if not isinstance(image_size, (int, np.integer)) or image_size < 16:
            raise ValueError(f"image_size must be an int >= 16, got {image_size!r}")
        self.obs_mode, self.image_size, self.render_mode = obs_mode, int(image_size), render_mode
        self.terminate_on_success = bool(terminate_on_success)
        self.dt = self.TIME_STEP * self.FRAME_SKIP  # seconds per env step
        self._client: BulletClient | None = new_client(self.TIME_STEP)
        self._build_scene()
        self.camera = TopDownCamera(self._client, self._world_bounds(), self.image_size)
        low, high = self._state_bounds()
        self._state_low, self._state_high = low.astype(np.float32), high.astype(np.float32)
        if obs_mode == "state":
            leaf = spaces.Box(self._state_low, self._state_high, dtype=np.float32)
        else:
            leaf = spaces.Box(0, 255, (self.image_size, self.image_size, 3), dtype=np.uint8)
        self.observation_space = spaces.Dict(
            {"observation": leaf, "achieved_goal": leaf, "desired_goal": leaf})
        self.action_space = spaces.Box(-1.0, 1.0, (self._action_dim(),), dtype=np.float32)
        self._goal_obs: np.ndarray | None = None
        self._goal_state: np.ndarray | None = None
        self._oracle = 0

    # ----------------------------------------------------------------- hooks for subclasses
    def _build_scene(self) -> None:
        raise NotImplementedError

    def _world_bounds(self) -> tuple[float, float, float, float]:
        raise NotImplementedError

    def _state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _action_dim(self) -> int:
        return 2

    def _sample_task(self, options: dict) -> tuple[list, list, int]:
        """Return (start configuration, goal configuration, oracle path length in env steps)."""
        raise NotImplementedError

    def _set_configuration(self, config: list) -> None:
        raise NotImplementedError

    def _apply_action(self, action: np.ndarray) -> None:
        """Set the actuators from an action in [-1, 1] (for one physics step unless ACTION_PERSISTS)."""
        raise NotImplementedError

    def _read_state(self) -> np.ndarray:
        """The state observation (float64, unclipped)."""
        raise NotImplementedError

    def _contact_obstacle(self) -> bool:
        return False

    def _extra_info(self) -> dict:
        return {}

    def goal_distance(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _pixel_success(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ----------------------------------------------------------------- gymnasium API
    @property
    def client(self) -> BulletClient:
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} is closed; make a new environment")
        return self._client

    def _check_options(self, options: dict | None) -> dict:
        options = {} if options is None else dict(options)
        unknown = sorted(set(options) - set(self.OPTION_KEYS))
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; valid options are {list(self.OPTION_KEYS)}")
        mpl = options.get("min_path_length")
        if mpl is not None and (isinstance(mpl, bool) or not isinstance(mpl, (int, np.integer)) or mpl < 0):
            raise ValueError(f"min_path_length must be a non-negative int (env steps), got {mpl!r}")
        return options

    def _state_obs(self) -> np.ndarray:
        return np.clip(self._read_state(), self._state_low, self._state_high).astype(np.float32)

    def _observe(self) -> np.ndarray:
        return self._state_obs() if self.obs_mode == "state" else self.camera.render(self.client)

    def _dict_obs(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return {"observation": obs, "achieved_goal": obs.copy(), "desired_goal": self._goal_obs.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = self._check_options(options)
        start, goal, self._oracle = self._sample_task(options)
        self._set_configuration(goal)
        self._goal_state = self._state_obs()
        self._goal_obs = self._goal_state if self.obs_mode == "state" else self.camera.render(self.client)
        self._set_configuration(start)
        obs = self._observe()
        return self._dict_obs(obs), self._info(obs, touched=False)

    def _info(self, obs: np.ndarray, touched: bool) -> dict:
        state = obs if self.obs_mode == "state" else self._state_obs()
        dist = float(self.goal_distance(state, self._goal_state))
        info = {"is_success": bool(dist <= self.success_threshold), "goal_distance": dist,
                "oracle_path_length": int(self._oracle), "touches_obstacle": bool(touched)}
        info.update(self._extra_info())
        return info

    def check_action(self, action) -> np.ndarray:
        """Validate an action: shape (action_dim,), finite; returns float64 clipped to [-1, 1]."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action contains NaN/inf: {a}; actions must be finite values in [-1, 1]")
        return np.clip(a, -1.0, 1.0)

    def step(self, action):
        if self._goal_obs is None:
            raise RuntimeError("call reset() before step()")
        a = self.check_action(action)
        client, touched = self.client, False
        if self.ACTION_PERSISTS:
            self._apply_action(a)
        for _ in range(self.FRAME_SKIP):
            if not self.ACTION_PERSISTS:
                self._apply_action(a)
            client.stepSimulation()
            touched = touched or self._contact_obstacle()
        obs = self._observe()
        info = self._info(obs, touched)
        if self.obs_mode == "state":  # identical to compute_reward(obs, goal), without recomputing it
            reward = 0.0 if info["is_success"] else -1.0
        else:
            reward = float(self.compute_reward(obs, self._goal_obs, info))
        terminated = self.terminate_on_success and info["is_success"]
        return self._dict_obs(obs), reward, bool(terminated), False, info

    def compute_reward(self, achieved_goal, desired_goal, info) -> np.ndarray | np.float32:
        """Sparse reward, vectorised over leading dims: 0.0 where the goal is reached, else -1.0.

        State mode: ``goal_distance <= success_threshold``; pixel mode: ``_pixel_success`` (see the
        subclass docstring for what the images are compared on).
        """
        if self.obs_mode == "state":
            success = self.goal_distance(achieved_goal, desired_goal) <= self.success_threshold
        else:
            success = self._pixel_success(achieved_goal, desired_goal)
        reward = np.where(success, 0.0, -1.0).astype(np.float32)
        return np.float32(reward) if reward.ndim == 0 else reward

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self.camera.render(self.client)
        return None

    def close(self) -> None:
        """Disconnect the physics server; safe to call more than once."""
        close_client(self._client)
        self._client = None
