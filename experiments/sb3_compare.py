"""SB3 comparison: PPO and SAC+HER versus the GRASP agent (Dyna) on the same latent-goal tasks.

Every agent gets the same budget of real env steps on the same task distribution (resets with
``min_path_length``), and is evaluated every ``eval_every`` steps on the same fixed tasks
(reset seeds from ``eval_seed``) for ``eval_steps`` steps each; success is the env's own.
SB3 agents act on :class:`grasp_agent.wrappers.LatentGoalWrapper` observations (the identity encoder of
an ``MLPWorldModel`` for state envs, i.e. the same latent space the planner uses).

Outputs: ``metrics.csv`` (agent, env_steps, success_rate, ...), ``results.md`` (final success
per agent and success at each evaluation), ``plots/success_vs_steps.png``, TensorBoard with
SB3's own keys (``rollout/ep_rew_mean``, ``time/fps`` under ``tb/<agent>/``) and
``eval/success_rate`` per agent. The GRASP agent runs through :class:`grasp_agent.dyna.DynaLoop`
with a :class:`~grasp_agent.agents.PlannerAgent` (see :mod:`grasp_agent.experiments.sb3_grasp`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from grasp_agent.experiments.evaluation import sample_tasks
from grasp_agent.experiments.pipeline import make_env
from grasp_agent.experiments.plots import line_chart
from grasp_agent.experiments.run_dir import RunDir, markdown_table
from grasp_agent.experiments.sb3_agents import (
    TaskOptionsWrapper,
    evaluate_policy_success,
    make_sb3_model,
    train_with_evals,
)
from grasp_agent.experiments.schema import SB3CompareConfig

logger = logging.getLogger(__name__)


def _latent_env(cfg: SB3CompareConfig, options: dict[str, Any]) -> Any:
    from grasp_agent.models import MLPWorldModel
    from grasp_agent.wrappers import LatentGoalWrapper

    env = TaskOptionsWrapper(make_env(cfg.env), options)
    obs_dim = int(np.prod(env.observation_space["observation"].shape))
    action_dim = int(np.prod(env.action_space.shape))
    encoder = MLPWorldModel(obs_dim, action_dim)  # identity encoder: latent = state observation
    return LatentGoalWrapper(env, encoder, device=cfg.device, success_source="env")


def results_markdown(cfg: SB3CompareConfig, rows: list[dict[str, Any]]) -> str:
    """Final success per agent, then success at each evaluation point (columns = agents)."""
    agents = list(dict.fromkeys(r["agent"] for r in rows))
    final = []
    for a in agents:
        sub = [r for r in rows if r["agent"] == a]
        final.append({"agent": a, "env steps": sub[-1]["env_steps"], "final success": sub[-1]["success_rate"],
                      "best success": max(r["success_rate"] for r in sub),
                      "wall time (s)": sub[-1]["wall_time_s"]})
    steps = sorted({r["env_steps"] for r in rows})
    curve = [{"env steps": s, **{a: next((r["success_rate"] for r in rows
                                          if r["agent"] == a and r["env_steps"] == s), None)
                                 for a in agents}} for s in steps]
    return (f"## SB3 comparison: {cfg.env.id}\n\nTasks need >= {cfg.min_path_length} steps; "
            f"{cfg.eval_episodes} fixed evaluation tasks, {cfg.eval_steps} steps each; success is "
            f"the env's own.\n\n{markdown_table(final)}\n### Success rate versus env steps\n\n"
            f"{markdown_table(curve)}")


def figures(cfg: SB3CompareConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Success rate versus env steps, one line per agent: ``{"success_vs_steps": fig}``."""
    agents = list(dict.fromkeys(r["agent"] for r in rows))
    return {"success_vs_steps": line_chart(
        {a: ([r["env_steps"] for r in rows if r["agent"] == a],
             [r["success_rate"] for r in rows if r["agent"] == a]) for a in agents},
        "env steps", "success rate (eval tasks)", f"{cfg.env.id}: success vs env steps")}


def run(cfg: SB3CompareConfig, run_dir: RunDir) -> dict[str, Any]:
    """Train and evaluate every agent; returns the final success rate per agent."""
    options = {"min_path_length": cfg.min_path_length} if cfg.min_path_length > 0 else {}
    probe = make_env(cfg.env)
    tasks = sample_tasks(probe, cfg.eval_episodes, cfg.min_path_length, cfg.eval_steps, cfg.eval_seed,
                         require_feasible=False)
    seeds = [t.seed for t in tasks]
    rows: list[dict[str, Any]] = []
    for name, spec in cfg.algos.items():
        env = _latent_env(cfg, options)
        eval_env = _latent_env(cfg, options)
        tb_dir = str(run_dir.path / "tb" / name) if run_dir.tensorboard else None
        model = make_sb3_model(spec.type, env, spec.params, cfg.seed, cfg.device, tb_dir)

        def evaluate(model: Any = model, eval_env: Any = eval_env) -> tuple[float, float]:
            return evaluate_policy_success(eval_env, lambda o: model.predict(o, deterministic=True)[0],
                                           seeds, cfg.eval_steps)

        def log(tag: str, value: float, step: int, name: str = name) -> None:
            run_dir.log_scalar(tag, value, step, name)

        curve = train_with_evals(model, cfg.total_steps, cfg.eval_every, evaluate, log, cfg.progress)
        rows += [{"agent": name, **r} for r in curve]
        run_dir.add_rows([{"agent": name, **r} for r in curve])
    if cfg.grasp is not None:
        from grasp_agent.experiments.sb3_grasp import run_grasp_dyna

        eval_envs = [make_env(cfg.env) for _ in tasks]

        def log_grasp(tag: str, value: float, step: int) -> None:
            run_dir.log_scalar(tag, value, step, "grasp_dyna")

        curve = run_grasp_dyna(make_env(cfg.env), eval_envs, tasks, cfg.grasp, cfg.total_steps,
                               cfg.eval_every, cfg.eval_steps, options, cfg.seed, cfg.device, log_grasp)
        rows += [{"agent": "grasp_dyna", **r} for r in curve]
        run_dir.add_rows([{"agent": "grasp_dyna", **r} for r in curve])
    for name, fig in figures(cfg, rows).items():
        run_dir.save_figure(fig, name)
    agents = list(dict.fromkeys(r["agent"] for r in rows))
    run_dir.write_results(results_markdown(cfg, rows))
    return {f"final_success/{a}": [r for r in rows if r["agent"] == a][-1]["success_rate"] for a in agents}
