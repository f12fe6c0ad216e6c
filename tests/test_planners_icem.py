"""Defining properties of iCEM: colored noise, kept and shifted elites, population decay."""

from __future__ import annotations

import math

import pytest
import torch
from gymnasium import spaces

from grasp_agent.agents import ICEMAgent
from grasp_agent.agents.named import NAMED_AGENTS
from grasp_agent.planners import PLANNERS, ICEMConfig, ICEMPlanner
from grasp_agent.planners.icem import colored_noise
from tests.helpers import BrokenModel, LinearModel, reachable_goals

BOX = spaces.Box(-1.0, 1.0, (2,))
T = 8


class RolloutRecorder(LinearModel):
    """Records the actions ``(M, T, A)`` of every ``rollout`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.rollouts: list[torch.Tensor] = []

    def rollout(self, z0, actions):
        self.rollouts.append(actions.detach().clone())
        return super().rollout(z0, actions)


def _planner(model=None, **kw) -> ICEMPlanner:
    cfg = {"iterations": 4, "num_samples": 40, "num_elites": 6, **kw}
    return ICEMPlanner(model if model is not None else LinearModel(), BOX, T, ICEMConfig(**cfg))


def _low_high_power(noise: torch.Tensor) -> tuple[float, float]:
    """Mean power of the lowest and highest quarter of the frequencies of ``(..., T)`` noise
    (DC and Nyquist left out: the method draws them real, so they carry half the power)."""
    power = torch.fft.rfft(noise, dim=-1).abs().pow(2).mean(tuple(range(noise.ndim - 1)))[1:-1]
    q = max(len(power) // 4, 1)
    return power[:q].mean().item(), power[-q:].mean().item()


def _lag1(noise: torch.Tensor) -> float:
    x = noise - noise.mean(-1, keepdim=True)
    return ((x[..., 1:] * x[..., :-1]).mean() / x.pow(2).mean()).item()


def test_registered_with_a_named_agent():
    assert PLANNERS["icem"] is ICEMPlanner
    assert NAMED_AGENTS["icem"] is ICEMAgent and ICEMAgent.default_planner == "icem"


def test_colored_noise_beta0_is_white_and_beta2_has_more_low_frequency_power():
    planner = _planner()
    white = colored_noise(0.0, (4000, 32), planner, torch.Generator().manual_seed(0))
    red = colored_noise(2.0, (4000, 32), planner, torch.Generator().manual_seed(0))
    assert white.shape == red.shape == (4000, 32)
    assert abs(white.var().item() - 1.0) < 0.05 and 0.7 < red.var().item() < 1.3  # ~unit variance
    low, high = _low_high_power(white)
    assert 0.85 < low / high < 1.15 and abs(_lag1(white)) < 0.02  # flat spectrum, uncorrelated
    low, high = _low_high_power(red)
    assert low / high > 50 and _lag1(red) > 0.8  # power ~ 1/f^2: smooth sequences
    one = colored_noise(2.0, (5, 1), planner, torch.Generator().manual_seed(0))
    assert one.shape == (5, 1) and torch.isfinite(one).all()  # a single step is white


def test_same_seed_same_plan_including_a_warm_start():
    z0, goal = reachable_goals(LinearModel(), 3, T)
    runs = []
    for _ in range(2):
        planner = _planner(seed=11)
        first = planner.plan(z0, goal)
        runs.append((first.actions, planner.plan(z0, goal, init_actions=first.actions).actions))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    assert not torch.equal(runs[0][0], _planner(seed=12).plan(z0, goal).actions)


def test_population_decays_and_each_round_is_one_batched_rollout():
    model = RolloutRecorder()
    planner = _planner(model, iterations=5, num_samples=64, num_elites=4, population_decay=1.5,
                       keep_elite_frac=0.5)
    z0, goal = reachable_goals(LinearModel(), 3, T)
    result = planner.plan(z0, goal)
    fresh = [planner.population(k) for k in range(5)]
    assert fresh == [64, 43, 29, 19, 13]  # ceil(64 / 1.5^k), floored at 2 * num_elites = 8
    expected = [fresh[0]] + [n + 2 for n in fresh[1:-1]] + [fresh[-1] + 2 + 1]  # + kept + mean
    assert result.info["history"]["population"] == expected
    # one rollout call per round over all B x N sequences, then the two final rollouts (B each)
    assert [r.shape[0] for r in model.rollouts] == [3 * n for n in expected] + [3, 3]
    assert planner.population(50) == 8


def test_kept_elites_survive_into_the_next_round():
    model = RolloutRecorder()
    planner = _planner(model, iterations=4, keep_elite_frac=0.5, add_mean=False)
    z0, goal = reachable_goals(LinearModel(), 2, T)
    planner.plan(z0, goal)
    keep, b = planner.num_kept, 2
    assert keep == 3
    for k in range(3):
        pop = model.rollouts[k].view(b, -1, T, 2)
        cost = ((LinearModel().rollout(z0.repeat_interleave(pop.shape[1], 0), pop.reshape(-1, T, 2))[:, -1]
                 - goal.repeat_interleave(pop.shape[1], 0)) ** 2).mean(-1).view(b, -1)
        top = pop.gather(1, cost.topk(keep, 1, largest=False).indices[..., None, None].expand(b, keep, T, 2))
        following = model.rollouts[k + 1].view(b, -1, T, 2)
        n_fresh = planner.population(k + 1)
        assert torch.equal(following[:, n_fresh:n_fresh + keep], top)  # carried over, best first


def test_the_mean_is_a_sample_of_the_last_round():
    model = RolloutRecorder()
    planner = _planner(model, iterations=3, keep_elite_frac=0.0)
    means = []
    planner.plan(*reachable_goals(LinearModel(), 2, T), callback=lambda step: means.append(step.actions))
    last = model.rollouts[2].view(2, -1, T, 2)
    assert last.shape[1] == planner.population(2) + 1
    torch.testing.assert_close(last[:, -1], means[1])  # the mean after round 1 enters round 2


def test_warm_start_shifts_the_previous_elites():
    model = RolloutRecorder()
    planner = _planner(model, keep_elite_frac=0.5)
    z0, goal = reachable_goals(LinearModel(), 3, T)
    first = planner.plan(z0, goal)
    elites = planner.elites  # (B, K, T, A) env units, best first
    assert elites.shape == (3, 6, T, 2)
    shift, keep = 3, planner.num_kept
    init = torch.cat([first.actions[:, shift:], torch.zeros(3, shift, 2)], dim=1)  # the agent's warm start
    model.rollouts.clear()
    second = planner.plan(z0, goal, init_actions=init)
    assert second.info["shifted_elites"] == 3
    pop = model.rollouts[0].view(3, -1, T, 2)
    moved = pop[:, planner.population(0):]
    assert moved.shape[1] == keep
    torch.testing.assert_close(moved[:, :, :T - shift], elites[:, :keep, shift:], atol=1e-6, rtol=0)
    assert torch.all(moved.abs() <= 1.0)
    # a warm start that is no shift of the last plan reuses nothing
    other = planner.plan(z0, goal, init_actions=torch.rand(3, T, 2) * 2 - 1)
    assert other.info["shifted_elites"] == 0
    planner.forget()
    assert planner.elites is None and planner.plan(z0, goal, init_actions=init).info["shifted_elites"] == 0


@pytest.mark.parametrize("beta", [0.0, 2.0, 4.0])
def test_actions_in_bounds_and_finite_with_a_nan_model_and_a_huge_std(beta):
    space = spaces.Box(-0.5, 2.0, (2,))
    z0, goal = reachable_goals(LinearModel(), 3, T)
    planner = ICEMPlanner(BrokenModel(), space, T, ICEMConfig(iterations=3, num_samples=32, num_elites=4,
                                                                beta=beta, init_std=1e3))
    for init in (None, torch.full((3, T, 2), 1.9)):
        actions = planner.plan(z0, goal, init_actions=init).actions
        assert torch.isfinite(actions).all()
        assert torch.all(actions >= -0.5) and torch.all(actions <= 2.0)


def test_colored_samples_beat_white_ones_on_a_far_goal():
    """Smooth sequences reach farther: with beta=2 the best sample ends closer to a far goal."""
    model = LinearModel()
    z0 = torch.zeros(16, 4)
    with torch.no_grad():
        goal = model.rollout(z0, torch.full((16, 24, 2), 0.9))[:, -1]
    costs = {}
    for beta in (0.0, 2.0):
        cfg = ICEMConfig(iterations=1, num_samples=64, num_elites=4, beta=beta, seed=3)
        costs[beta] = ICEMPlanner(model, BOX, 24, cfg).plan(z0, goal).cost.mean().item()
    assert costs[2.0] < costs[0.0]


def test_population_and_kept_counts_follow_the_config():
    planner = _planner(num_samples=10, num_elites=10, keep_elite_frac=1.0)
    assert planner.population(0) == 10 and planner.population(9) == 10 and planner.num_kept == 10
    assert _planner(keep_elite_frac=0.0).num_kept == 0
    assert _planner(keep_elite_frac=0.01).num_kept == math.ceil(0.06)
    with pytest.raises(ValueError, match=r"ICEMConfig.num_elites must be <= num_samples=4, got 6"):
        _planner(num_samples=4)
