"""Config ranges and kinds, model-output shapes, float32 overflow: every planner, seeded fuzzing.

Every rejection must raise the right error type AND a message that names the problem: the
field (``GRASPConfig.sigma``), the valid range or kind, and the offending value.
"""

from __future__ import annotations

import dataclasses
import math
import typing

import numpy as np
import pytest
import torch
from gymnasium import spaces

from grasp_agent.planners import PLANNERS
from grasp_agent.validation import Range, check_float, ranged, validate_config
from tests.helpers import LinearModel, reachable_goals

BOX = spaces.Box(-1.0, 1.0, (2,))
NAMES = sorted(PLANNERS)
FLOAT_POISON = [float("nan"), float("inf"), -float("inf"), 1e300, -1e300, 3.5e38, np.float64("nan"),
                np.float32("inf")]


def _fields(name: str) -> list[tuple[str, object, bool, Range | None]]:
    """``(field, base type, optional, range)`` of a registered planner's config."""
    cls = PLANNERS[name].config_class
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp, optional = hints[f.name], False
        args = typing.get_args(tp)
        if type(None) in args:
            optional, tp = True, next(a for a in args if a is not type(None))
        out.append((f.name, tp, optional, f.metadata.get("range")))
    return out


def _build(name: str, **values):
    cls = PLANNERS[name]
    return cls(LinearModel(), BOX, 4, config=cls.config_class(**values))


def _expect(name: str, field: str, value, exc: type[Exception], *words: str) -> None:
    with pytest.raises(exc) as info:
        _build(name, **{field: value})
    message = str(info.value)
    qualified = f"{PLANNERS[name].config_class.__name__}.{field}"
    assert qualified in message, message
    assert repr(value) in message, message
    for word in words:
        assert word in message, message


def _bad_values(tp, optional: bool, rng: Range | None) -> list[tuple[object, type[Exception], str]]:
    """Invalid values of a field kind with the error type and a word the message must hold."""
    if tp is bool:
        return [(v, TypeError, "must be a bool") for v in ("false", "True", 0, 1, 1.0, np.int64(1))] + (
            [] if optional else [(None, TypeError, "must be a bool")])
    if tp is int:
        bad = [(v, TypeError, "must be an int") for v in (True, False, 5.0, "5", np.float32(2.0))]
        if rng is not None and rng.low is not None:
            below = math.floor(rng.low) - (0 if rng.low_open else 1)
            bad += [(below, ValueError, str(rng)), (np.int64(below), ValueError, str(rng))]
        return bad + ([] if optional else [(None, TypeError, "must be an int")])
    if tp is float:
        bad = [(v, ValueError, "finite number") for v in FLOAT_POISON]
        bad += [(v, TypeError, "must be a number") for v in (True, "0.1", [0.1])]
        if rng is not None and rng.low is not None:
            bad += [(rng.low - 0.5, ValueError, str(rng))]
            if rng.low_open:
                bad += [(rng.low, ValueError, str(rng))]
        if rng is not None and rng.high is not None:
            bad += [(rng.high if rng.high_open else rng.high + 0.5, ValueError, str(rng))]
        return bad + ([] if optional else [(None, TypeError, "must be a number")])
    if typing.get_origin(tp) is typing.Literal:
        return [(v, ValueError, "must be one of") for v in ("nope", "CEM", True, 1, None)]
    raise AssertionError(f"untested field kind {tp!r}")


CASES = [(name, field, value, exc, word) for name in NAMES for field, tp, optional, rng in _fields(name)
         for value, exc, word in _bad_values(tp, optional, rng)]


@pytest.mark.parametrize("name, field, value, exc, word", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]!r}" for c in CASES])
def test_every_field_rejects_bad_values_with_a_message_naming_field_range_and_value(name, field, value, exc,
                                                                                    word):
    _expect(name, field, value, exc, word)


def test_every_numeric_field_of_the_builtin_planners_declares_a_range():
    for name in NAMES:
        for field, tp, _, rng in _fields(name):
            if tp in (int, float):
                assert rng is not None, f"{name}.{field} has no ranged(...) declaration"


def test_seeded_fuzz_random_bad_values_of_random_fields():
    gen = np.random.default_rng(2026)
    kinds = {name: _fields(name) for name in NAMES}
    for _ in range(150):
        name = NAMES[gen.integers(len(NAMES))]
        field, tp, optional, rng = kinds[name][gen.integers(len(kinds[name]))]
        if tp is float:
            sign = -1.0 if gen.random() < 0.5 else 1.0
            magnitude = [float("nan"), float("inf"), 10.0 ** gen.uniform(39, 308)][gen.integers(3)]
            value = (np.float64 if gen.random() < 0.5 else float)(sign * magnitude)
            _expect(name, field, value, ValueError, "finite number")
        elif tp is int:
            value = [True, float(gen.integers(1, 9)), str(gen.integers(1, 9))][gen.integers(3)]
            _expect(name, field, value, TypeError, "must be an int")
        elif tp is bool:
            value = [str(gen.random() < 0.5).lower(), int(gen.integers(2)), np.int8(1)][gen.integers(3)]
            _expect(name, field, value, TypeError, "must be a bool")
        else:
            value = "".join(gen.choice(list("abcxyz"), size=4))
            _expect(name, field, value, ValueError, "must be one of")


def test_string_false_never_switches_noise_on():
    _expect("grasp", "use_noise", "false", TypeError, "bool")
    _expect("grasp", "use_goal_term", "False", TypeError, "bool")


@pytest.mark.parametrize("value", [float("nan"), 0, 0.0, -1.0, float("inf")])
def test_time_budget_must_be_positive_and_finite(value):
    for name in NAMES:
        _expect(name, "time_budget_s", value, ValueError, "> 0")


def test_numpy_scalars_are_accepted_and_plan_like_python_numbers():
    z0, goal = reachable_goals(LinearModel(), 2, 4)
    np_cfg = dict(iterations=np.int64(12), sigma=np.float32(0.01), lr_a=np.float64(0.02),
                  use_sync=np.bool_(True), sync_every=np.int32(6), seed=np.uint8(3))
    py_cfg = {k: v.item() for k, v in np_cfg.items()}
    user_config = PLANNERS["grasp"].config_class(**np_cfg)
    planner = PLANNERS["grasp"](LinearModel(), BOX, 4, config=user_config)
    assert type(planner.config.iterations) is int and type(planner.config.sigma) is float
    assert type(user_config.iterations) is np.int64  # the caller's object is not mutated
    reference = PLANNERS["grasp"](LinearModel(), BOX, 4, config=PLANNERS["grasp"].config_class(**py_cfg))
    assert torch.equal(planner.plan(z0, goal).actions, reference.plan(z0, goal).actions)


def test_valid_edge_values_are_accepted():
    for name in NAMES:
        for field, tp, optional, rng in _fields(name):
            if tp in (int, float) and rng is not None and rng.low is not None and not rng.low_open:
                if "elites" in field or "samples" in field:
                    continue
                _build(name, **{field: tp(rng.low)})
            if optional:
                _build(name, **{field: None})
    _build("cem", alpha=0, init_std=1)  # ints for float fields


def test_cross_field_limits_name_both_fields():
    with pytest.raises(ValueError, match=r"CEMConfig.num_elites must be <= num_samples=4, got 8"):
        _build("cem", num_samples=4, num_elites=8)
    with pytest.raises(ValueError, match=r"cem_sync_elites must be <= cem_sync_samples=2, got 3"):
        _build("grasp", cem_sync_samples=2, cem_sync_elites=3)


def test_a_config_edited_after_construction_is_checked_at_plan():
    planner = _build("cem")
    planner.config.alpha = float("nan")
    z0, goal = reachable_goals(LinearModel(), 1, 4)
    with pytest.raises(ValueError, match=r"CEMConfig.alpha must be a finite number in \[0, 1\)"):
        planner.plan(z0, goal)


def test_range_and_ranged_spell_the_interval():
    assert str(Range(0.0, 1.0, high_open=True)) == "in [0, 1)"
    assert str(Range(0.0, low_open=True)) == "> 0"
    assert 0.0 not in Range(0.0, low_open=True) and 1.0 in Range(0.0, 1.0)
    with pytest.raises(TypeError, match="at most one lower"):
        ranged(1.0, ge=0.0, gt=0.0)
    with pytest.raises(ValueError, match=r"x must be a finite number >= 0, got -0.5"):
        check_float("x", -0.5, Range(0.0))

    @dataclasses.dataclass
    class Plugin:  # a plug-in config without ranges: kind checks and the shared names only
        iterations: int = 3
        scale: float = 1.0
        name: str = "x"

    assert validate_config(Plugin()) == Plugin()
    with pytest.raises(ValueError, match=r"Plugin.iterations must be an int >= 1, got 0"):
        validate_config(Plugin(iterations=0))
    with pytest.raises(ValueError, match="Plugin.scale"):
        validate_config(Plugin(scale=float("nan")))


# ------------------------------------------------------------------------------ model outputs
class WideModel(LinearModel):
    """``predict`` returns one latent too many: ``(..., D + 1)``."""

    def predict(self, z, a):
        out = super().predict(z, a)
        return torch.cat([out, out[..., :1]], dim=-1)


class FlatModel(LinearModel):
    """``predict`` returns ``(..., 1)``: would broadcast silently against a ``(B, D)`` goal."""

    def predict(self, z, a):
        return super().predict(z, a).sum(-1, keepdim=True)


class NumpyModel(LinearModel):
    """``predict`` returns a numpy array."""

    def predict(self, z, a):
        return super().predict(z, a).detach().numpy()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("model_cls, exc, words", [
    (WideModel, ValueError, ("returned shape", ", 5)", "latent_dim=4")),
    (FlatModel, ValueError, ("returned shape", "latent_dim=4")),
    (NumpyModel, TypeError, ("must return a floating-point torch.Tensor", "ndarray")),
])
def test_a_model_output_of_the_wrong_shape_or_type_raises(name, model_cls, exc, words):
    planner = PLANNERS[name](model_cls(), BOX, 4, config=PLANNERS[name].config_class(iterations=2))
    z0, goal = reachable_goals(LinearModel(), 2, 4)
    with pytest.raises(exc) as info:
        planner.plan(z0, goal)
    assert model_cls.__name__ in str(info.value)
    assert all(word in str(info.value) for word in words), str(info.value)


# ------------------------------------------------------------------------------ float32 overflow
@pytest.mark.parametrize("which", ["z0", "z_goal"])
def test_a_float64_start_that_overflows_float32_is_rejected(which):
    z0, goal = reachable_goals(LinearModel(), 2, 4)
    inputs = {"z0": z0.double(), "z_goal": goal.double()}
    inputs[which][0, 1] = 1e300
    assert torch.isfinite(inputs[which]).all()  # finite in float64, inf in float32
    for name in NAMES:
        with pytest.raises(ValueError, match=rf"{which} contains NaN or inf \(in float32"):
            _build(name).plan(inputs["z0"], inputs["z_goal"])


@pytest.mark.parametrize("low, high, dims", [(-3e38, 3e38, "[0, 1]"),
                                             (np.array([-1.0, -2e38]), np.array([1.0, 2e38]), "[1]")])
def test_a_box_wider_than_float32_is_rejected(low, high, dims):
    low, high = np.broadcast_to(low, (2,)), np.broadcast_to(high, (2,))
    space = spaces.Box(low.astype(np.float32), high.astype(np.float32), (2,), np.float32)
    assert np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))
    for name in NAMES:
        with pytest.raises(ValueError, match="too wide for float32: high - low overflows") as info:
            PLANNERS[name](LinearModel(), space, 4)
        assert f"dims {dims}" in str(info.value) and "RescaleAction" in str(info.value)


def test_a_wide_but_representable_box_gives_finite_in_bounds_actions():
    space = spaces.Box(np.float32(-1e38), np.float32(1e38), (2,), np.float32)
    z0, goal = reachable_goals(LinearModel(), 2, 4)
    for name in NAMES:
        actions = _build_space(name, space).plan(z0, goal).actions
        assert torch.isfinite(actions).all()
        assert torch.all(actions >= -1e38) and torch.all(actions <= 1e38)


def _build_space(name, space):
    cls = PLANNERS[name]
    return cls(LinearModel(), space, 4, config=cls.config_class(iterations=2))
