"""Small world models shared by the planner tests."""

from __future__ import annotations

import torch

import grasp_agent


class LinearModel(grasp_agent.WorldModel):
    """``z' = A z + B a`` with a fixed, seeded, well-conditioned ``A`` and ``B``."""

    def __init__(self, latent_dim: int = 4, action_dim: int = 2, seed: int = 1) -> None:
        super().__init__()
        self.latent_dim, self.action_dim = latent_dim, action_dim
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("a_mat", torch.eye(latent_dim) + 0.05 * torch.randn(latent_dim, latent_dim,
                                                                                  generator=gen))
        self.register_buffer("b_mat", 0.3 * torch.randn(latent_dim, action_dim, generator=gen))

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.float()

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z @ self.a_mat.T + a @ self.b_mat.T


class RecordingModel(LinearModel):
    """Records, for every ``predict`` call, the input shape and whether ``z`` carries grad."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[tuple[int, ...], bool]] = []
        self.state_grads: list[torch.Tensor] = []

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        self.calls.append((tuple(z.shape), z.requires_grad))
        if z.requires_grad:
            z.register_hook(lambda g: self.state_grads.append(g.detach().clone()))
        return super().predict(z, a)


class BrokenModel(LinearModel):
    """Returns NaN and inf for some inputs: planners must still return finite, bounded actions."""

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        out = super().predict(z, a)
        out = out + torch.where(a[..., :1] > 0.2, torch.full_like(out[..., :1], float("nan")),
                                torch.zeros_like(out[..., :1]))
        return out * torch.where(a[..., 1:2] < -0.5, torch.full_like(out[..., :1], float("inf")),
                                 torch.ones_like(out[..., :1]))


def reachable_goals(model: LinearModel, batch: int, horizon: int, seed: int = 0, scale: float = 0.8
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Start latents and goals reached by in-bounds actions (``|a| <= scale``)."""
    gen = torch.Generator().manual_seed(seed)
    z0 = torch.randn(batch, model.latent_dim, generator=gen)
    actions = scale * (2 * torch.rand(batch, horizon, model.action_dim, generator=gen) - 1)
    with torch.no_grad():
        goal = model.rollout(z0, actions)[:, -1]
    return z0, goal
