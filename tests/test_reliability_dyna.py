"""Fault tests for resuming: a wrapped replay ring, and kills during a Dyna checkpoint."""

from __future__ import annotations

import json
import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

import grasp_agent
from grasp_agent import RandomAgent, ReplayBuffer
from grasp_agent.dyna import DynaConfig, DynaLoop
from grasp_agent.dyna import checkpoint as dyna_checkpoint
from grasp_agent.safe_io import CheckpointError
from grasp_agent.training import FitConfig

FIT = FitConfig(max_steps=20, batch_size=64, eval_every=10, eval_horizon=3, eval_size=32)


def _wrapped_buffer() -> ReplayBuffer:
    buf = ReplayBuffer(30, (2,), 1)
    rng = np.random.default_rng(0)
    for i in range(9):  # 5 rows each: the ring holds 6 episodes, the last 3 written over the first 3
        buf.add_episode(rng.normal(size=(5, 2)).astype(np.float32) + i, rng.normal(size=(4, 1)),
                        rng.normal(size=4), bool(i % 2), rng.random(4) < 0.5)
    return buf


def test_a_wrapped_ring_loads_with_its_rows_in_place_and_samples_the_same(tmp_path):
    buf = _wrapped_buffer()
    assert buf.episode[::5].tolist() == [6, 7, 8, 3, 4, 5]
    buf.save(tmp_path / "b.npz")
    back = ReplayBuffer.load(tmp_path / "b.npz")
    assert back.episode[::5].tolist() == [6, 7, 8, 3, 4, 5]     # not [3, 4, 5, 6, 7, 8]
    for key in ("obs", "actions", "rewards", "touches", "remaining", "episode"):
        np.testing.assert_array_equal(getattr(back, key), getattr(buf, key), err_msg=key)
    assert back.episode_ids().tolist() == [3, 4, 5, 6, 7, 8] and back.terminated == buf.terminated
    for a, b in ((buf, back),):
        one = a.sample_sequences(16, 2, np.random.default_rng(5))
        two = b.sample_sequences(16, 2, np.random.default_rng(5))
        for key in one:
            np.testing.assert_array_equal(one[key], two[key])
    # the next episode goes to the same rows in both (the write pointer is kept) and evicts the same
    for b in (buf, back):
        b.add_episode(np.zeros((5, 2), np.float32), np.zeros((4, 1)))
    np.testing.assert_array_equal(back.episode, buf.episode)


def test_an_inconsistent_buffer_file_is_refused(tmp_path):
    buf = _wrapped_buffer()
    buf.save(tmp_path / "b.npz")
    import io

    from grasp_agent.safe_io import read_checked, write_checked
    data = dict(np.load(io.BytesIO(read_checked(tmp_path / "b.npz", "buffer"))))
    meta = json.loads(str(data["meta"]))
    meta["episodes"][1][3] = meta["episodes"][0][3]   # two episodes on the same rows
    data["meta"] = np.array(json.dumps(meta))
    out = io.BytesIO()
    np.savez(out, **data)
    write_checked(tmp_path / "bad.npz", out.getvalue())
    with pytest.raises(CheckpointError, match="bad.npz.*overlaps"):
        ReplayBuffer.load(tmp_path / "bad.npz")


def _loop(directory=None, iterations=2):
    torch.manual_seed(0)
    env = gym.make("grasp_agent/WallDoor-v0", tasks="any", max_episode_steps=15)
    model = grasp_agent.MLPWorldModel(2, 2, (16,))
    agent = RandomAgent(env.action_space, env.observation_space, seed=1)
    # 2 x 30 steps in 16-row episodes, 40 rows: the ring wraps
    cfg = DynaConfig(iterations=iterations, steps_per_iteration=30, random_steps=0, fit=FIT,
                     imagined_rollouts=0, buffer_capacity=40)
    return DynaLoop(env, agent, model, None, cfg, checkpoint_dir=directory)


def _result(loop):
    return ([(h.success_rate, h.model_loss) for h in loop.history],
            {k: v.clone() for k, v in loop.model.state_dict().items()}, loop.buffer.episode.copy())


def _same(a, b):
    assert a[0] == b[0]
    for k in a[1]:
        torch.testing.assert_close(a[1][k], b[1][k], rtol=0, atol=0)
    np.testing.assert_array_equal(a[2], b[2])


@pytest.fixture(scope="module")
def straight():
    loop = _loop()
    loop.run()
    return _result(loop)


@pytest.mark.parametrize("crash_in", ["buffer", "pointer"])
def test_a_kill_during_a_checkpoint_resumes_from_the_previous_one_exactly(tmp_path, monkeypatch, straight,
                                                                          crash_in):  # noqa: E501
    first = _loop(tmp_path)
    first.cfg.iterations = 1
    first.run()  # iteration 0, committed as v000001
    committed = json.loads((tmp_path / "checkpoint.json").read_text())["version"]

    class Killed(BaseException):
        pass

    def die(*args, **kwargs):
        raise Killed

    # the next save dies half-way: after state.pt (writing the buffer) or before the pointer switch
    if crash_in == "buffer":
        monkeypatch.setattr(ReplayBuffer, "save", die)
    else:
        monkeypatch.setattr(dyna_checkpoint, "atomic_json_dump", die)
    first.cfg.iterations = 2
    with pytest.raises(Killed):
        first.run()
    monkeypatch.undo()
    assert json.loads((tmp_path / "checkpoint.json").read_text())["version"] == committed
    assert (tmp_path / "v000002").is_dir()          # the unfinished version is still there ...
    resumed = _loop(tmp_path)
    assert not (tmp_path / "v000002").exists()      # ... until the next load removes it
    assert resumed.iteration == 1
    resumed.run()
    _same(_result(resumed), straight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json", "v000002"]


def test_a_mixed_or_damaged_checkpoint_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    one = _loop(a, iterations=1)
    one.run()
    two = _loop(b, iterations=2)
    two.run()
    version = json.loads((a / "checkpoint.json").read_text())["version"]
    other = json.loads((b / "checkpoint.json").read_text())["version"]
    shutil.copy(b / other / "real_buffer.npz", a / version / "real_buffer.npz")   # state k, buffer k+1
    with pytest.raises(CheckpointError, match="mixed"):
        _loop(a)
    (a / version / "real_buffer.npz").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        _loop(a)
    (a / "checkpoint.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="pointer"):
        _loop(a)
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "dyna_state.pt").write_bytes(b"old")
    (legacy / "learner_buffer.pkl").write_bytes(b"old")
    with pytest.raises(CheckpointError, match="old layout.*pickle"):
        _loop(legacy)
