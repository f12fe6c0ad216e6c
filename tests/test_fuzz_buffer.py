"""Fuzz: ReplayBuffer construction, add_episode and sampling with bad or edge-case inputs (seeded).

Every case asserts the error type and that the message names the problem; a rejected episode
leaves the buffer unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

from grasp_agent import ReplayBuffer

NAN, INF = float("nan"), float("inf")

CONSTRUCTOR_CASES = [
    ((1, (2,), 2), ValueError, "capacity"),
    ((0, (2,), 2), ValueError, "capacity"),
    ((-5, (2,), 2), ValueError, "capacity"),
    ((2.5, (2,), 2), ValueError, "capacity"),
    (("10", (2,), 2), ValueError, "capacity"),
    ((True, (2,), 2), ValueError, "capacity"),
    ((None, (2,), 2), ValueError, "capacity"),
    ((10, 2, 2), TypeError, "obs_shape"),
    ((10, (0,), 2), ValueError, "obs_shape"),
    ((10, (-1, 2), 2), ValueError, "obs_shape"),
    ((10, (2.5,), 2), ValueError, "obs_shape"),
    ((10, ("a",), 2), ValueError, "obs_shape"),
    ((10, (2,), 0), ValueError, "action_dim"),
    ((10, (2,), -1), ValueError, "action_dim"),
    ((10, (2,), 1.5), ValueError, "action_dim"),
    ((10, (2,), 2, object), TypeError, "obs_dtype"),
    ((10, (2,), 2, "U3"), TypeError, "obs_dtype"),
    ((10, (2,), 2, "not a dtype"), TypeError, "obs_dtype"),
]


@pytest.mark.parametrize("args, error, words", CONSTRUCTOR_CASES)
def test_constructor_rejects_bad_sizes(args, error, words):
    with pytest.raises(error, match=words):
        ReplayBuffer(*args)


def _ok(t=3):
    return np.zeros((t + 1, 2), np.float32), np.zeros((t, 2), np.float32)


obs, act = _ok()
EPISODE_CASES = [
    # (kwargs for add_episode, error, words in the message)
    ({"obs": obs, "actions": act, "rewards": [0.0, NAN, 0.0]}, ValueError, "rewards contain NaN"),
    ({"obs": obs, "actions": act, "rewards": [INF, 0.0, 0.0]}, ValueError, "rewards contain NaN or inf"),
    ({"obs": obs, "actions": act, "rewards": [1e300, 0.0, 0.0]}, ValueError, "beyond float32"),
    ({"obs": obs, "actions": act, "rewards": [0.0, 0.0]}, ValueError, r"rewards must have shape \(3,\)"),
    ({"obs": obs, "actions": act, "rewards": np.zeros((3, 2))}, ValueError, "rewards must have shape"),
    ({"obs": obs, "actions": act, "rewards": ["a", "b", "c"]}, TypeError, "rewards must be an array of"),
    ({"obs": obs, "actions": act, "touches": [True]}, ValueError, "touches must be 3 bools"),
    ({"obs": obs, "actions": act, "touches": ["x", "y", "z"]}, ValueError, "touches must be 3 bools"),
    ({"obs": obs, "actions": act, "terminated": "false"}, TypeError, "terminated must be a bool"),
    ({"obs": obs, "actions": act, "terminated": 2}, TypeError, "terminated must be a bool"),
    ({"obs": obs, "actions": act, "terminated": None}, TypeError, "terminated must be a bool"),
    ({"obs": obs[:-1], "actions": act}, ValueError, r"needs obs of shape \(4, 2\)"),
    ({"obs": obs[:, :1], "actions": act}, ValueError, r"needs obs of shape \(4, 2\)"),
    ({"obs": obs[None], "actions": act}, ValueError, "needs obs of shape"),
    ({"obs": obs, "actions": act[:, :1]}, ValueError, r"actions must be \(T, 2\)"),
    ({"obs": obs, "actions": np.zeros((3, 3))}, ValueError, r"actions must be \(T, 2\)"),
    ({"obs": obs, "actions": 0.5}, ValueError, "actions must be"),
    ({"obs": obs, "actions": np.zeros((0, 2))}, ValueError, "at least one action"),
    ({"obs": obs, "actions": []}, ValueError, "actions must be"),
    ({"obs": obs, "actions": [["a", "b"]] * 3}, TypeError, "actions must be an array of numbers"),
    ({"obs": obs, "actions": [[0.0, None]] * 3}, ValueError, "actions contain NaN"),  # None -> NaN
    ({"obs": obs, "actions": np.full((3, 2), NAN)}, ValueError, "actions contain NaN"),
    ({"obs": obs, "actions": np.full((3, 2), -INF)}, ValueError, "actions contain NaN or inf"),
    ({"obs": np.full((4, 2), NAN), "actions": act}, ValueError, "observations contain NaN"),
    ({"obs": np.full((4, 2), INF), "actions": act}, ValueError, "observations contain NaN or inf"),
    ({"obs": np.full((4, 2), 1e300), "actions": act}, ValueError, "exceed the range of float32"),
    ({"obs": np.array([["a", "b"]] * 4), "actions": act}, TypeError, "obs must be an array of numbers"),
    ({"obs": [[{}, {}]] * 4, "actions": act}, TypeError, "obs must be an array of numbers"),
    ({"obs": np.zeros((31, 2)), "actions": np.zeros((30, 2))}, ValueError, "exceeds capacity 20"),
]


@pytest.mark.parametrize("case", range(len(EPISODE_CASES)))
def test_add_episode_rejects_bad_episodes_and_stays_unchanged(case):
    kwargs, error, words = EPISODE_CASES[case]
    buf = ReplayBuffer(20, (2,), 2)
    buf.add_episode(*_ok())
    before = (buf.obs.copy(), buf.remaining.copy(), buf.episode_ids().tolist())
    with pytest.raises(error, match=words):
        buf.add_episode(**kwargs)
    np.testing.assert_array_equal(buf.obs, before[0])
    np.testing.assert_array_equal(buf.remaining, before[1])
    assert buf.episode_ids().tolist() == before[2]


IMAGE_CASES = [
    (np.full((4, 3, 3, 3), 256, np.int64), ValueError, r"outside uint8's \[0, 255\].*wrap"),
    (np.full((4, 3, 3, 3), -1, np.int16), ValueError, r"outside uint8's \[0, 255\]"),
    (np.full((4, 3, 3, 3), 2 ** 40, np.int64), ValueError, "outside uint8"),
    (np.zeros((4, 3, 3, 3), np.float32), TypeError, "stores uint8 observations"),
    (np.zeros((4, 3, 3, 3), np.float64) + 0.5, TypeError, "pass the raw uint8"),
]


@pytest.mark.parametrize("case", range(len(IMAGE_CASES)))
def test_uint8_buffers_reject_values_they_would_wrap(case):
    obs, error, words = IMAGE_CASES[case]
    buf = ReplayBuffer(20, (3, 3, 3), 2, np.uint8)
    with pytest.raises(error, match=words):
        buf.add_episode(obs, np.zeros((3, 2)))
    assert buf.num_episodes == 0
    ok = np.full((4, 3, 3, 3), 255, np.int64)  # in range: stored exactly, whatever the input int type
    buf.add_episode(ok, np.zeros((3, 2)))
    assert buf.obs[:4].max() == 255 and buf.obs.dtype == np.uint8


def test_random_episodes_either_store_exactly_or_raise_a_named_error():
    rng = np.random.default_rng(0)
    kinds = {"nan_reward": "rewards", "inf_obs": "observations", "short_obs": "obs of shape",
             "wide_act": "actions must be", "nan_act": "actions contain"}
    for _ in range(200):
        buf = ReplayBuffer(64, (2,), 2)
        t = int(rng.integers(1, 10))
        obs, act, rew = rng.normal(size=(t + 1, 2)), rng.normal(size=(t, 2)), rng.normal(size=t)
        kind = rng.choice([*kinds, "ok"])
        if kind == "nan_reward":
            rew[rng.integers(t)] = NAN
        elif kind == "inf_obs":
            obs[rng.integers(t + 1), rng.integers(2)] = INF
        elif kind == "short_obs":
            obs = obs[:-1]
        elif kind == "wide_act":
            act = rng.normal(size=(t, 3))
        elif kind == "nan_act":
            act[rng.integers(t), 0] = NAN
        if kind == "ok":
            ep = buf.add_episode(obs, act, rew)
            stored = buf.gather(buf.valid_starts(t), t)["rewards"][0]
            np.testing.assert_array_equal(stored, rew.astype(np.float32))
            assert ep == 0
        else:
            with pytest.raises((ValueError, TypeError), match=kinds[kind]):
                buf.add_episode(obs, act, rew)
            assert buf.num_episodes == 0


SAMPLING_CASES = [
    (lambda b, r: b.valid_starts(0), ValueError, "length and action_block must be >= 1"),
    (lambda b, r: b.valid_starts(1, 0), ValueError, "length and action_block must be >= 1"),
    (lambda b, r: b.sample_sequences(4, 50, r), ValueError, "no stored episode has 50 consecutive actions"),
    (lambda b, r: b.gather([0], 10), ValueError, "draw them with valid_starts"),
    (lambda b, r: b.sample_transitions(4, r, action_block=9), ValueError, "no stored episode has 9"),
]


@pytest.mark.parametrize("case", range(len(SAMPLING_CASES)))
def test_sampling_rejects_impossible_requests(case):
    call, error, words = SAMPLING_CASES[case]
    buf = ReplayBuffer(20, (2,), 2)
    buf.add_episode(*_ok())
    with pytest.raises(error, match=words):
        call(buf, np.random.default_rng(0))
