"""The pixel-latent benchmark on a tiny budget: it runs, and keypoint latents follow position."""

from __future__ import annotations

import argparse
import math

from grasp_agent.experiments.benchmarks.bench_pixel_latents import run


def test_keypoint_latents_follow_the_agent_on_walldoor_pixels():
    args = argparse.Namespace(checkpoint=None, episodes=4, train_steps=10, tasks=1, horizon=10, device="cpu",
                              seed=0, task_seed=30000, probe_seed=900000)
    row = run("keypoints", args)
    assert row["corr"] > 0.9 and row["probe_r2"] > 0.9, row  # measured: 1.00 and 0.999
    for key in ("cem_env", "cem_model", "grasp_env", "grasp_model"):
        assert 0.0 <= row[key] <= 1.0
    assert math.isfinite(row["val_loss"]) and row["spread"] > 0.05
