"""Pixel-latent benchmark: does a pixel encoder's latent space work as a planning space?

A goal cost in latent space only guides a planner if latent distance follows the scene. For
each encoder (``pixels``: dense CNN bottleneck; ``keypoints``: spatial-softmax keypoints) this
trains the horizon sweep's pixel GRU on WallDoor pixels through the sweep's own pipeline
(random plus goal-directed data from :func:`grasp_agent.experiments.pipeline.collect_data`, the
sweep's pixel training settings through :func:`grasp_agent.experiments.pipeline.train_model`),
then reports on
images of held-out positions (drawn by the env's renderer at the start and goal positions of
fresh tasks):

* latent spread (mean per-dimension std);
* correlation between latent distance and position distance;
* a linear probe latent -> position: median error (WallDoor units, the world is 1 x 1) and r2;
* open-loop success of CEM and GRASP (the sweep's settings) on tasks needing >= ``H`` steps,
  in the env and under the model.

Usage::

    python -m grasp_agent.experiments.benchmarks.bench_pixel_latents   # trains a GRU per encoder
    python -m grasp_agent.experiments.benchmarks.bench_pixel_latents --encoders keypoints
    # no training: evaluate a saved model (a sweep's models/walldoor_pixels.pt, or the
    # .train.pt of a training in progress: its best weights so far)
    python -m grasp_agent.experiments.benchmarks.bench_pixel_latents --checkpoint PATH
"""

from __future__ import annotations

import argparse
import math
import time

import gymnasium as gym
import numpy as np
import torch

from grasp_agent.agents import PlannerAgent
from grasp_agent.experiments.evaluation import run_tasks, sample_tasks
from grasp_agent.experiments.pipeline import build_model, collect_data, train_model
from grasp_agent.experiments.schema import DataSection, ModelSection, TrainSection
from grasp_agent.models import load_world_model
from grasp_agent.planners import CEMConfig, CEMPlanner, GRASPConfig, GRASPPlanner
from grasp_agent.training.checkpoint import model_from_training_checkpoint

ENV_ID = "grasp_agent/WallDoor-v0"
ENV_KWARGS = {"image_size": 64, "tasks": "any", "max_step": 0.015}
MODEL_KWARGS = {  # the sweep's pixel entries (horizon_sweep.yaml, now and before the keypoints)
    "pixels": {"latent_dim": 32, "encoder": "pixels", "min_latent_std": 0.1},
    "keypoints": {"latent_dim": 16, "encoder": "keypoints", "min_latent_std": 0.0},
}
EVAL_EVERY = 250  # gradient steps between validations (the sweep's pixel setting)


def held_out_images(pixel_env: gym.Env, count: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """Images ``(2 count, S, S, 3)`` of the start and goal positions of ``count`` fresh tasks."""
    state_env = gym.make(ENV_ID, obs_mode="state", **ENV_KWARGS)
    renderer = pixel_env.unwrapped.renderer
    positions = []
    for i in range(count):
        obs, _ = state_env.reset(seed=seed + i)
        positions += [obs["observation"], obs["desired_goal"]]
    pos = np.array(positions, dtype=np.float64)
    return torch.as_tensor(np.stack([renderer.draw(tuple(p)) for p in pos])), pos


def latent_geometry(model: torch.nn.Module, imgs: torch.Tensor, pos: np.ndarray) -> dict[str, float]:
    """Spread, corr(latent distance, position distance) and a linear probe on held-out images."""
    with torch.no_grad():
        z = model.encode(imgs).cpu().numpy().astype(np.float64)
    half = len(z) // 2
    feats = np.c_[z, np.ones(len(z))]
    w, *_ = np.linalg.lstsq(feats[:half], pos[:half], rcond=None)
    pred = feats[half:] @ w
    r2 = 1 - ((pred - pos[half:]) ** 2).sum() / ((pos[half:] - pos[half:].mean(0)) ** 2).sum()
    iu = np.triu_indices(len(z), 1)
    dz = np.linalg.norm(z[:, None] - z[None], axis=-1)[iu]
    dp = np.linalg.norm(pos[:, None] - pos[None], axis=-1)[iu]
    return {"spread": float(z.std(0).mean()), "corr": float(np.corrcoef(dz, dp)[0, 1]),
            "probe_err": float(np.median(np.linalg.norm(pred - pos[half:], axis=1))), "probe_r2": float(r2)}


def planning(model: torch.nn.Module, args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """Open-loop ``(success in env, success under the model)`` of CEM and GRASP."""
    envs = [gym.make(ENV_ID, obs_mode="pixels", **ENV_KWARGS) for _ in range(args.tasks)]
    horizon = math.ceil(1.25 * args.horizon)
    tasks = sample_tasks(envs[0], args.tasks, args.horizon, horizon, args.task_seed)
    space = envs[0].action_space
    planners = {
        "cem": CEMPlanner(model, space, horizon, CEMConfig(iterations=30, num_samples=512, num_elites=64,
                                                           seed=args.seed)),
        "grasp": GRASPPlanner(model, space, horizon, GRASPConfig(iterations=500, sigma=0.02, keep_best=True,
                                                                 seed=args.seed)),
    }
    out = {}
    for name, planner in planners.items():
        agent = PlannerAgent(model, space, planner=planner, open_loop=True, horizon_mode="shrinking",
                             latent_goals=False, observation_space=envs[0].observation_space)
        records = run_tasks(envs, agent, tasks)
        out[name] = (float(np.mean([r["success"] for r in records])),
                     float(np.mean([r["model_success"] for r in records])))
    return out


def run(encoder: str, args: argparse.Namespace) -> dict[str, float]:
    env = gym.make(ENV_ID, obs_mode="pixels", **ENV_KWARGS)
    if args.checkpoint:
        path = args.checkpoint
        model = model_from_training_checkpoint(path) if path.endswith(".train.pt") else load_world_model(path)
        row = {"train_s": float("nan"), "val_loss": float("nan")}
    else:
        data = collect_data(env, DataSection(episodes=args.episodes, episode_steps=100, action_repeat=10,
                                             seed=args.seed, goal_directed_fraction=0.5))
        model = build_model(ModelSection(type="gru", kwargs=MODEL_KWARGS[encoder]), env)
        start = time.perf_counter()
        train = TrainSection(max_steps=args.train_steps, eval_every=min(EVAL_EVERY, args.train_steps),
                             batch_size=64, seq_len=8, lr=1e-3, patience=6, seed=args.seed)
        metrics = train_model(model, data, train, args.device)
        row = {"train_s": time.perf_counter() - start, "val_loss": metrics["train/best_val_loss"]}
    row.update(latent_geometry(model, *held_out_images(env, 250, args.probe_seed)))
    for name, (env_s, model_s) in planning(model, args).items():
        row[f"{name}_env"], row[f"{name}_model"] = env_s, model_s
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=list(MODEL_KWARGS), choices=list(MODEL_KWARGS))
    parser.add_argument("--episodes", type=int, default=60, help="100-step data episodes")
    parser.add_argument("--train-steps", type=int, default=1500, help="max gradient steps (early stopping)")
    parser.add_argument("--tasks", type=int, default=20, help="planning tasks")
    parser.add_argument("--horizon", type=int, default=25, help="tasks need at least this many steps")
    parser.add_argument("--checkpoint", help="evaluate this saved model instead of training one")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task-seed", type=int, default=30000)
    parser.add_argument("--probe-seed", type=int, default=900000)
    args = parser.parse_args()
    source = (f"the model in {args.checkpoint}" if args.checkpoint
              else f"{args.episodes} episodes x 100 steps, up to {args.train_steps} training steps")
    print(f"# bench_pixel_latents: WallDoor pixels, {source}; {args.tasks} open-loop tasks needing "
          f">= {args.horizon} steps\n")
    print("| encoder | val loss | latent spread | corr(latent dist, position dist) | probe error | probe r2 "
          "| CEM env / model | GRASP env / model | train s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for encoder in [args.checkpoint] if args.checkpoint else args.encoders:
        r = run(encoder, args)
        val = "-" if math.isnan(r["val_loss"]) else f"{r['val_loss']:.3f}"
        train = "-" if math.isnan(r["train_s"]) else f"{r['train_s']:.0f}"
        print(f"| {encoder} | {val} | {r['spread']:.3g} | {r['corr']:.2f} "
              f"| {r['probe_err']:.3f} | {r['probe_r2']:.3f} | {r['cem_env']:.2f} / {r['cem_model']:.2f} "
              f"| {r['grasp_env']:.2f} / {r['grasp_model']:.2f} | {train} |", flush=True)


if __name__ == "__main__":
    main()
