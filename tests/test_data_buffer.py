"""ReplayBuffer: storage, episode boundaries, autoreset handling, sampling, save/load."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from grasp_agent.data import ReplayBuffer, VectorRecorder, collect
from grasp_agent.data.collect import RandomPolicy


def _episode(t: int, start: float, a_dim: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Observations encode (episode start, time) so boundaries are checkable: o_t = start + t."""
    obs = (start + np.arange(t + 1, dtype=np.float32))[:, None].repeat(3, 1)
    actions = np.full((t, a_dim), start, np.float32) + np.arange(t, dtype=np.float32)[:, None]
    return obs, actions


def test_sequences_never_cross_episodes_and_match_storage():
    buf = ReplayBuffer(100, (3,), 2)
    for i, t in enumerate([5, 1, 8, 3]):
        buf.add_episode(*_episode(t, 1000.0 * (i + 1)))
    assert len(buf) == 17 and buf.num_episodes == 4
    rng = np.random.default_rng(0)
    seq = buf.sample_sequences(200, 3, rng)
    obs = seq["obs"][..., 0]
    # consecutive observations differ by exactly one time step within one episode
    np.testing.assert_array_equal(np.diff(obs, axis=1), 1.0)
    np.testing.assert_array_equal(seq["actions"][..., 0], obs[:, :-1])
    # the 1-step and 3-step-short episodes can never start a 3-step sequence... only 5 and 8 and 3
    assert set(np.floor(obs[:, 0] / 1000).astype(int)) <= {1, 3, 4}
    tr = buf.transitions()
    assert len(tr["obs"]) == 17
    np.testing.assert_array_equal(tr["next_obs"] - tr["obs"], 1.0)


def test_action_blocks_concatenate_actions_in_time_order():
    buf = ReplayBuffer(50, (3,), 2)
    buf.add_episode(*_episode(10, 0.0))
    seq = buf.gather(np.array([1]), length=2, action_block=3)
    np.testing.assert_array_equal(seq["obs"][0, :, 0], [1.0, 4.0, 7.0])
    np.testing.assert_array_equal(seq["actions"][0, 0], [1, 1, 2, 2, 3, 3])
    assert buf.valid_starts(3, 3).tolist() == [0, 1]
    with pytest.raises(ValueError, match="valid_starts"):
        buf.gather(np.array([5]), length=2, action_block=3)


def test_ring_evicts_oldest_whole_episodes_and_wraps():
    buf = ReplayBuffer(12, (3,), 2)
    ids = [buf.add_episode(*_episode(t, 100.0 * i)) for i, t in enumerate([4, 4, 4])]  # 5 rows each
    assert buf.episode_ids().tolist() == ids[1:]  # the first was evicted to make room
    assert len(buf) == 8
    seq = buf.sample_sequences(100, 4, np.random.default_rng(1))
    np.testing.assert_array_equal(np.diff(seq["obs"][..., 0], axis=1), 1.0)
    assert set(seq["obs"][:, 0, 0].tolist()) == {100.0, 200.0}
    with pytest.raises(ValueError, match="capacity"):
        buf.add_episode(*_episode(20, 0.0))


def test_bad_input_is_rejected():
    buf = ReplayBuffer(20, (3,), 2)
    obs, act = _episode(3, 0.0)
    with pytest.raises(ValueError, match="obs of shape"):
        buf.add_episode(obs[:-1], act)
    act[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        buf.add_episode(obs, act)
    img = ReplayBuffer(20, (4, 4, 3), 2, np.uint8)
    with pytest.raises(TypeError, match="uint8"):
        img.add_episode(np.zeros((3, 4, 4, 3), np.float32), np.zeros((2, 2)))


def test_save_load_round_trip_keeps_uint8_and_ids(tmp_path):
    buf = ReplayBuffer(30, (4, 4, 3), 2, np.uint8)
    rng = np.random.default_rng(0)
    for t in (5, 7, 9, 6):  # the last episode forces eviction and a wrap
        buf.add_episode(rng.integers(0, 255, (t + 1, 4, 4, 3), dtype=np.uint8), rng.normal(size=(t, 2)),
                        rng.normal(size=t), terminated=t == 7, touches=rng.random(t) < 0.5)
    path = tmp_path / "buf.npz"
    buf.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["buf.npz"]  # no temp file left behind
    loaded = ReplayBuffer.load(path)
    assert loaded.obs.dtype == np.uint8
    assert loaded.episode_ids().tolist() == buf.episode_ids().tolist()
    assert loaded.terminated == buf.terminated
    a, b = buf.transitions(), loaded.transitions()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    with pytest.raises(FileNotFoundError):
        ReplayBuffer.load(tmp_path / "missing.npz")


class _Countdown(gym.Env):
    """Obs = [episode index, step]; terminates after ``length`` steps (then needs a reset)."""

    observation_space = gym.spaces.Box(-1e6, 1e6, (2,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, length: int = 3) -> None:
        self.length, self.episode, self.t = length, -1, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return np.array([self.episode, 0], np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.array([self.episode, self.t], np.float32)
        return obs, 1.0, self.t >= self.length, False, {"touches_obstacle": self.t == 2}


@pytest.mark.parametrize("mode", [gym.vector.AutoresetMode.NEXT_STEP, gym.vector.AutoresetMode.SAME_STEP])
def test_vector_autoreset_step_is_not_a_transition(mode):
    envs = gym.vector.SyncVectorEnv([lambda: _Countdown(3), lambda: _Countdown(4)], autoreset_mode=mode)
    buf = collect(envs, 40, policy=RandomPolicy(envs.single_action_space, 2, seed=0), progress=False)
    tr = buf.transitions()
    # every stored transition stays inside one episode and advances the step counter by one
    np.testing.assert_array_equal(tr["next_obs"][:, 0], tr["obs"][:, 0])
    np.testing.assert_array_equal(tr["next_obs"][:, 1] - tr["obs"][:, 1], 1.0)
    np.testing.assert_array_equal(tr["touches"], tr["next_obs"][:, 1] == 2)
    finished = [e for e in buf.episode_ids() if buf.terminated[e]]
    assert len(finished) >= 8
    envs.close()


def test_recorder_next_step_drops_exactly_the_reset_step():
    buf = ReplayBuffer(100, (1,), 1)
    rec = VectorRecorder(buf, 1)
    with pytest.raises(RuntimeError, match="reset"):
        rec.step(np.zeros((1, 1)), np.zeros((1, 1)), [0.0], [False], [False], {})
    rec.reset(np.array([[0.0]]))
    stream = [([1.0], False), ([2.0], True), ([10.0], False), ([11.0], False)]  # 10 = reset obs
    for obs, term in stream:
        rec.step(np.ones((1, 1)), np.array([obs]), [0.0], [term], [False], {})
    rec.flush()
    assert rec.steps_dropped == 1 and buf.num_episodes == 2
    tr = buf.transitions()
    assert sorted(zip(tr["obs"][:, 0], tr["next_obs"][:, 0])) == [(0, 1), (1, 2), (10, 11)]
    assert [buf.terminated[e] for e in buf.episode_ids()] == [True, False]


def test_collect_walldoor_pixels_stores_uint8_and_obstacle_flags():
    buf = collect("grasp_agent/WallDoor-v0", 200, num_envs=2, seed=3, progress=False,
                  env_kwargs={"obs_mode": "pixels", "image_size": 32})
    assert buf.obs.dtype == np.uint8 and buf.obs_shape == (32, 32, 3)
    assert buf.goal_dim is None  # image goals are observations: not kept as achieved goals
    assert len(buf) >= 190
    state = collect("grasp_agent/WallDoor-v0", 2000, num_envs=2, seed=3, progress=False)
    assert 0 < state.touches[: state._size].mean() < 0.9  # random walks do hit walls sometimes
    assert state.goal_dim == 2


def test_goals_round_trip_and_are_validated(tmp_path):
    buf = ReplayBuffer(40, (3,), 2, goal_dim=2)
    rng = np.random.default_rng(0)
    for t in (5, 7, 9):
        obs, act = _episode(t, 10.0 * t)
        buf.add_episode(obs, act, terminated=t == 7, goals=obs[:, :2] * 0.5)
    tr = buf.transitions()
    np.testing.assert_array_equal(tr["goals"], tr["obs"][:, :2] * 0.5)
    np.testing.assert_array_equal(tr["next_goals"], tr["next_obs"][:, :2] * 0.5)
    seq = buf.sample_sequences(4, 3, rng, action_block=2)
    np.testing.assert_array_equal(seq["goals"], seq["obs"][..., :2] * 0.5)
    buf.save(tmp_path / "goals.npz")
    loaded = ReplayBuffer.load(tmp_path / "goals.npz")
    assert loaded.goal_dim == 2
    for key, value in loaded.transitions().items():
        np.testing.assert_array_equal(value, tr[key])
    obs, act = _episode(3, 0.0)
    with pytest.raises(ValueError, match=r"goal_dim=2\): pass goals of shape \(4, 2\)"):
        buf.add_episode(obs, act)
    with pytest.raises(ValueError, match=r"needs goals of shape \(4, 2\)"):
        buf.add_episode(obs, act, goals=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        buf.add_episode(obs, act, goals=np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="stores no goals"):
        ReplayBuffer(20, (3,), 2).add_episode(obs, act, goals=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="goal_dim"):
        ReplayBuffer(20, (3,), 2, goal_dim=0)
    assert "goals" not in ReplayBuffer(20, (3,), 2).gather(np.zeros(0, np.int64))


def test_format_2_files_still_load(tmp_path):
    """A buffer written before goals existed (format /2, no goal_dim) loads ring-exact."""
    import io
    import json

    from grasp_agent.safe_io import read_checked, write_checked

    buf = ReplayBuffer(30, (3,), 2)
    for t in (5, 7, 9, 12):  # wraps the ring
        buf.add_episode(*_episode(t, float(t)))
    buf.save(tmp_path / "b.npz")
    with np.load(io.BytesIO(read_checked(tmp_path / "b.npz", "buffer"))) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    meta["format"] = "grasp_agent.replay_buffer/2"
    del meta["goal_dim"]
    arrays["meta"] = np.array(json.dumps(meta))
    out = io.BytesIO()
    np.savez(out, **arrays)
    write_checked(tmp_path / "old.npz", out.getvalue())
    old = ReplayBuffer.load(tmp_path / "old.npz")
    assert old.goal_dim is None and old._ptr == buf._ptr
    np.testing.assert_array_equal(old.valid_starts(), buf.valid_starts())
