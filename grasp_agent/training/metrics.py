"""World-model accuracy in latent space: one-step and multi-step errors, near obstacles or not.

All errors are mean squared errors over latent dimensions between predictions and the encoded
true observations. Because latent spaces differ in scale between models (an identity encoder
versus a learned one), each error is also reported *normalised* (``nmse``): divided by the mean
per-dimension variance of the encoded targets in the same batch, so 1.0 means "no better than
predicting the mean latent" for every model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from grasp_agent.models.base import WorldModel

_MIN_VAR = 1e-12


def encode_sequences(model: WorldModel, obs_seq: torch.Tensor) -> torch.Tensor:
    """Encode ``(N, L, *obs_shape)`` to ``(N, L, D)`` through ``model.encode`` on ``(N*L, ...)``."""
    n, length = obs_seq.shape[:2]
    return model.encode(obs_seq.reshape((n * length,) + tuple(obs_seq.shape[2:]))).reshape(n, length, -1)


@torch.no_grad()
def latent_errors(model: WorldModel, obs_seq: Any, actions: Any, touches: Any = None,
                  chunk: int = 1024) -> dict[str, float]:
    """Prediction errors of ``model`` on sequences ``obs (N, H+1, ...)``, ``actions (N, H, A)``.

    Returns ``one_step_mse`` (``predict`` from each true latent, averaged over all steps),
    ``multi_step_mse`` (open-loop ``rollout`` from the first latent, error at step ``H``), their
    ``*_nmse`` versions and, when ``touches (N, H)`` is given, ``one_step_nmse_obstacle`` /
    ``one_step_nmse_free`` (steps that touched a wall vs. the others; NaN when there are none)
    with ``obstacle_fraction``.
    """
    device = model.device
    obs_seq = torch.as_tensor(np.asarray(obs_seq) if not isinstance(obs_seq, torch.Tensor) else obs_seq)
    actions = torch.as_tensor(actions, dtype=torch.float32)
    one_parts, multi_parts, var_parts = [], [], []
    for i in range(0, obs_seq.shape[0], chunk):
        o = obs_seq[i:i + chunk].to(device)
        a = actions[i:i + chunk].to(device)
        z = encode_sequences(model, o)
        target = z[:, 1:]
        one_parts.append(((model.predict(z[:, :-1], a) - target) ** 2).mean(-1).cpu())
        multi_parts.append(((model.rollout(z[:, 0], a)[:, -1] - target[:, -1]) ** 2).mean(-1).cpu())
        var_parts.append(target.reshape(-1, target.shape[-1]).cpu())
    one, multi = torch.cat(one_parts), torch.cat(multi_parts)
    var = float(torch.cat(var_parts).var(0, unbiased=False).mean().clamp_min(_MIN_VAR))
    out = {"one_step_mse": float(one.mean()), "multi_step_mse": float(multi.mean()),
           "one_step_nmse": float(one.mean()) / var, "multi_step_nmse": float(multi.mean()) / var,
           "latent_var": var}
    if touches is not None:
        mask = torch.as_tensor(np.asarray(touches), dtype=torch.bool)
        out["obstacle_fraction"] = float(mask.float().mean())
        out["one_step_nmse_obstacle"] = float(one[mask].mean()) / var if mask.any() else float("nan")
        out["one_step_nmse_free"] = float(one[~mask].mean()) / var if (~mask).any() else float("nan")
    return out
