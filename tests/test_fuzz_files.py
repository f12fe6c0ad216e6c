"""Fuzz: every loader given random bytes, mutated files and odd paths; every saver given odd targets.

Loaders must raise ``CheckpointError`` (a ``ValueError``) naming the file for any damaged or
foreign content, ``FileNotFoundError`` for a missing file, and never leak a torch/numpy/pickle/
zip error. Seeded, so every run tries the same cases.
"""

from __future__ import annotations

import json
import os

import gymnasium as gym
import numpy as np
import pytest

from grasp_agent import MLPWorldModel, RandomAgent, ReplayBuffer, load_world_model, save_world_model
from grasp_agent.agents import GRASPAgent
from grasp_agent.agents.io import load_planner_agent, save_planner_agent
from grasp_agent.safe_io import CheckpointError, load_torch_file, save_torch_file
from grasp_agent.training.checkpoint import read_training_checkpoint

MUTATIONS_PER_LOADER = 40
RANDOM_FILES_PER_LOADER = 20


def _save_model(path):
    save_world_model(MLPWorldModel(3, 2, hidden_sizes=(8,)), path)


def _save_agent(path):
    env = gym.make("grasp_agent/WallDoor-v0")
    save_planner_agent(GRASPAgent.from_env(env, MLPWorldModel(2, 2, (8,)), horizon=5), path)


def _save_random_agent(path):
    env = gym.make("grasp_agent/WallDoor-v0")
    RandomAgent(env.action_space, env.observation_space, seed=3).save(path)


def _save_buffer(path):
    buf = ReplayBuffer(20, (2,), 2)
    buf.add_episode(np.ones((4, 2), np.float32), np.zeros((3, 2), np.float32), np.ones(3))
    buf.save(path)


LOADERS = {
    "world model": (_save_model, load_world_model),
    "planner agent": (_save_agent, load_planner_agent),
    "random agent": (_save_random_agent, RandomAgent.load),
    "replay buffer": (_save_buffer, ReplayBuffer.load),
    "training checkpoint": (_save_model, read_training_checkpoint),
    "torch file": (_save_model, lambda p: load_torch_file(p, "torch file")),
}


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    kind = rng.integers(4)
    if kind == 0:  # flip 1-8 random bits
        for pos in rng.integers(0, len(buf), rng.integers(1, 9)):
            buf[pos] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # delete a random span
        a = int(rng.integers(len(buf)))
        del buf[a:a + int(rng.integers(1, 64))]
    elif kind == 2:  # insert random bytes
        a = int(rng.integers(len(buf)))
        buf[a:a] = rng.bytes(int(rng.integers(1, 64)))
    else:  # overwrite a span with zeros
        a = int(rng.integers(len(buf)))
        buf[a:a + int(rng.integers(1, 64))] = bytes(min(64, len(buf) - a))
    return bytes(buf)


@pytest.mark.parametrize("kind", list(LOADERS))
def test_mutated_files_raise_checkpoint_error_naming_the_file(tmp_path, kind):
    save, load = LOADERS[kind]
    good = tmp_path / "good"
    save(good)
    data = good.read_bytes()
    rng = np.random.default_rng(len(kind))
    path = tmp_path / "bad"
    for _ in range(MUTATIONS_PER_LOADER):
        mutated = _mutate(data, rng)
        if mutated == data:
            continue
        path.write_bytes(mutated)
        with pytest.raises(CheckpointError) as err:
            load(path)
        assert str(path) in str(err.value), err.value


@pytest.mark.parametrize("kind", list(LOADERS))
def test_random_bytes_raise_checkpoint_error(tmp_path, kind):
    _, load = LOADERS[kind]
    rng = np.random.default_rng(100 + len(kind))
    path = tmp_path / "noise"
    prefixes = [b"", b"PK\x03\x04", b"\x80\x02", b"\x93NUMPY", b"PK\x05\x06" + bytes(18)]
    for i in range(RANDOM_FILES_PER_LOADER):
        path.write_bytes(prefixes[i % len(prefixes)] + rng.bytes(int(rng.integers(0, 2000))))
        with pytest.raises(CheckpointError, match="noise"):
            load(path)


@pytest.mark.parametrize("kind", list(LOADERS))
def test_odd_paths(tmp_path, kind):
    _, load = LOADERS[kind]
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load(tmp_path / "missing.pt")
    (tmp_path / "folder.pt").mkdir()
    with pytest.raises((CheckpointError, IsADirectoryError), match="folder.pt"):
        load(tmp_path / "folder.pt")


WELL_FORMED_BUT_WRONG = [
    ({"format": "grasp_agent.world_model/1"}, "lacks the entries"),
    ({"format": "grasp_agent.world_model/1", "class": "grasp_agent.models.mlp:MLPWorldModel",
      "config": {"obs_dim": "three"}, "state_dict": {}, "extra": {}}, "does not build|not a dict"),
    ({"format": "grasp_agent.world_model/1", "class": "grasp_agent.models.mlp:MLPWorldModel",
      "config": [1, 2], "state_dict": {}, "extra": {}}, "config .* is not a dict"),
    ({"format": "grasp_agent.world_model/1", "class": "grasp_agent.models.mlp:MLPWorldModel",
      "config": {"obs_dim": 3, "action_dim": 2, "hidden_sizes": [8]}, "state_dict": {"w": 1}, "extra": {}},
     "not a dict of tensors"),
    ({"format": "grasp_agent.world_model/1", "class": "grasp_agent.models.mlp:MLPWorldModel",
      "config": {"obs_dim": 3, "action_dim": 2, "hidden_sizes": [8]}, "state_dict": {}, "extra": {}},
     "do not fit"),
    ({"format": "grasp_agent.world_model/1", "class": "no colon", "config": {}, "state_dict": {},
      "extra": {}}, "module:QualName"),
    ({"format": "grasp_agent.world_model/1", "class": "grasp_agent.models.mlp:Nope", "config": {},
      "state_dict": {}, "extra": {}}, "not a WorldModel"),
    ({"format": "grasp_agent.world_model/1", "class": "grasp_agent.nothing_here:X", "config": {},
      "state_dict": {}, "extra": {}}, "cannot be found"),
    ([1, 2, 3], "found 'list'"),
    ({"format": 7}, "expected format"),
]


@pytest.mark.parametrize("case", range(len(WELL_FORMED_BUT_WRONG)))
def test_well_formed_files_with_wrong_content_say_what_is_wrong(tmp_path, case):
    payload, words = WELL_FORMED_BUT_WRONG[case]
    path = tmp_path / "m.pt"
    save_torch_file(payload, path)
    with pytest.raises(CheckpointError, match=words) as err:
        load_world_model(path)
    assert "m.pt" in str(err.value)


def test_a_world_model_state_dict_of_the_wrong_shapes(tmp_path):
    path = tmp_path / "m.pt"
    _save_model(path)
    ckpt = load_torch_file(path, "x")
    ckpt["config"]["hidden_sizes"] = [9]
    save_torch_file(ckpt, path)
    with pytest.raises(CheckpointError, match="do not fit MLPWorldModel.*size mismatch"):
        load_world_model(path)


def test_buffer_files_with_inconsistent_arrays(tmp_path):
    import io

    from grasp_agent.safe_io import read_checked, write_checked
    path = tmp_path / "b.npz"
    _save_buffer(path)
    data = dict(np.load(io.BytesIO(read_checked(path, "b"))))
    cases = [("obs", data["obs"][:-1], "obs has shape"), ("rewards", np.full_like(data["rewards"], np.nan),
                                                           "rewards contain NaN"),
             ("meta", np.array("[]"), "format"), ("meta", np.array("{"), "not a readable"),
             ("actions", None, "lacks")]
    for key, value, words in cases:
        bad = dict(data)
        if value is None:
            del bad[key]
        else:
            bad[key] = value
        out = io.BytesIO()
        np.savez(out, **bad)
        write_checked(tmp_path / "bad.npz", out.getvalue())
        with pytest.raises(CheckpointError, match=words):
            ReplayBuffer.load(tmp_path / "bad.npz")
    meta = json.loads(str(data["meta"]))
    changes = (({"capacity": -3}, "capacity"), ({"next_id": 0}, "next_id"), ({"ptr": 99}, "pointer"),
               ({"obs_shape": [3]}, "obs has shape"))
    for change, words in changes:
        bad = dict(data, meta=np.array(json.dumps({**meta, **change})))
        out = io.BytesIO()
        np.savez(out, **bad)
        write_checked(tmp_path / "bad.npz", out.getvalue())
        with pytest.raises(CheckpointError, match=words):
            ReplayBuffer.load(tmp_path / "bad.npz")


def test_save_paths(tmp_path):
    model = MLPWorldModel(3, 2, hidden_sizes=(8,))
    (tmp_path / "dir.pt").mkdir()
    with pytest.raises(IsADirectoryError, match="dir.pt"):
        save_world_model(model, tmp_path / "dir.pt")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match="file"):
        save_world_model(model, tmp_path / "file" / "m.pt")
    with pytest.raises(TypeError, match="cannot store a .*Generator"):
        save_world_model(model, tmp_path / "m.pt", extra={"rng": np.random.default_rng(0)})
    with pytest.raises(TypeError, match="dtype object"):
        save_world_model(model, tmp_path / "m.pt", extra={"a": np.array([{}, 1], dtype=object)})
    with pytest.raises(TypeError, match="reserved"):
        save_world_model(model, tmp_path / "m.pt", extra={"__grasp_agent__": 1})
    # nothing half-written is left behind, and a later save at a good path works
    assert sorted(os.listdir(tmp_path)) == ["dir.pt", "file"]
    save_world_model(model, tmp_path / "nested" / "deeper" / "m.pt")
    assert isinstance(load_world_model(tmp_path / "nested" / "deeper" / "m.pt"), MLPWorldModel)
