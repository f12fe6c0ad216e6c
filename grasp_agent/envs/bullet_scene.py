"""Shared pybullet plumbing for the planar goal-conditioned environments: clients, bodies, camera.

Every environment here owns one headless physics server (``pybullet.DIRECT``) through a
``BulletClient``, builds its scene from primitive shapes, and keeps all of its dynamic state in the
joints of "planar" multibodies: a fixed base with prismatic x / y joints (and optionally a revolute
yaw joint), so bodies can never leave the plane, tip over or spin out of it.

Pixel observations come from a fixed top-down camera (ER_TINY_RENDERER, no shadows, light from
above). The camera is a narrow-angle perspective camera far above the scene, so world x/y map almost
linearly to pixels (see ``TopDownCamera.pixel_to_world``); objects are segmented by colour
(``colour_mask``) when ``compute_reward`` has to judge images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

try:
    import pybullet
    from pybullet_utils.bullet_client import BulletClient
except ImportError as exc:  # pragma: no cover - exercised only without the optional dependency
    raise ImportError(
        "The pybullet environments need the optional dependency pybullet: "
        "pip install 'grasp-agent[pybullet]' (or pip install pybullet)."
    ) from exc

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
