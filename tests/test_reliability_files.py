"""Fault tests for saved files: crafted pickles, truncation, flipped bytes, foreign files, crashed saves."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from grasp_agent import MLPWorldModel, RandomAgent, ReplayBuffer, load_world_model, save_world_model
from grasp_agent.agents import GRASPAgent
from grasp_agent.agents.io import load_planner_agent, save_planner_agent
from grasp_agent.models.io import load_into
from grasp_agent.safe_io import CheckpointError, load_torch_file, save_torch_file
from grasp_agent.training.checkpoint import read_training_checkpoint


class _Touch:
    """Unpickling this runs ``open(path, "w")``: what a crafted checkpoint would do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _world_model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.pt"
    save_world_model(MLPWorldModel(3, 2, hidden_sizes=(8,)), path)
    return path


def _agent_file(tmp_path: Path) -> Path:
    env = gym.make("grasp_agent/WallDoor-v0")
    path = tmp_path / "agent.pt"
    save_planner_agent(GRASPAgent.from_env(env, MLPWorldModel(2, 2, (8,)), horizon=5), path)
    return path


def _random_agent_file(tmp_path: Path) -> Path:
    env = gym.make("grasp_agent/WallDoor-v0")
    path = tmp_path / "random.pt"
    RandomAgent(env.action_space, env.observation_space, seed=3).save(path)
    return path


def _buffer_file(tmp_path: Path) -> Path:
    buf = ReplayBuffer(20, (2,), 2)
    buf.add_episode(np.zeros((4, 2), np.float32), np.zeros((3, 2), np.float32), np.ones(3))
    path = tmp_path / "buffer.npz"
    buf.save(path)
    return path


LOADERS = {
    "world model": (_world_model_file, load_world_model),
    "load_into": (_world_model_file, lambda p: load_into(MLPWorldModel(3, 2, hidden_sizes=(8,)), p)),
    "planner agent": (_agent_file, load_planner_agent),
    "random agent": (_random_agent_file, RandomAgent.load),
    "replay buffer": (_buffer_file, ReplayBuffer.load),
    "training checkpoint": (_world_model_file, read_training_checkpoint),
}


@pytest.mark.parametrize("kind", list(LOADERS))
def test_a_crafted_pickle_does_not_run(tmp_path, kind):
    _, load = LOADERS[kind]
    victim = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "grasp_agent.world_model/1", "class": _Touch(str(victim))}, path)
    with pytest.raises(CheckpointError) as err:
        load(path)
    assert not victim.exists()
    assert str(path) in str(err.value)
    # the same payload as a raw pickle (no zip) is refused as well
    path.write_bytes(pickle.dumps(_Touch(str(victim))))
    with pytest.raises(CheckpointError):
        load(path)
    assert not victim.exists()


@pytest.mark.parametrize("kind", list(LOADERS))
def test_truncated_files_are_refused_with_the_file_named(tmp_path, kind):
    make, load = LOADERS[kind]
    path = make(tmp_path)
    data = path.read_bytes()
    for keep in (0, 1, len(data) // 3, len(data) - 1, len(data) - 40):
        path.write_bytes(data[:keep])
        with pytest.raises(CheckpointError, match="corrupt|truncated|not a readable") as err:
            load(path)
        assert str(path) in str(err.value)


@pytest.mark.parametrize("kind", list(LOADERS))
def test_one_flipped_byte_anywhere_is_detected(tmp_path, kind):
    make, load = LOADERS[kind]
    path = make(tmp_path)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for pos in [0, len(data) // 2, len(data) - 1, *rng.integers(0, len(data), 5)]:
        flipped = bytearray(data)
        flipped[pos] ^= 0x10
        path.write_bytes(bytes(flipped))
        with pytest.raises(CheckpointError, match="corrupt|not a readable"):
            load(path)


@pytest.mark.parametrize("kind", list(LOADERS))
def test_foreign_files_are_refused(tmp_path, kind):
    make, load = LOADERS[kind]
    path = tmp_path / "foreign.pt"
    for write in (lambda p: torch.save([1, 2, 3], p),                    # another torch file
                  lambda p: save_torch_file({"format": "someone.else/1"}, p),  # another grasp file
                  lambda p: np.savez(p, x=np.arange(3)),                 # another archive
                  lambda p: p.write_text("hello")):
        write(path)
        with pytest.raises(CheckpointError) as err:
            load(path)
        assert str(path) in str(err.value)
    # the right kind of file for another loader names what it is not
    other = make(tmp_path)
    wrong = ReplayBuffer.load if kind != "replay buffer" else load_world_model
    with pytest.raises(CheckpointError):
        wrong(other)


def test_missing_files_raise_file_not_found(tmp_path):
    for _, load in LOADERS.values():
        with pytest.raises(FileNotFoundError, match="nope"):
            load(tmp_path / "nope.pt")


def test_a_class_named_in_a_file_must_be_a_world_model(tmp_path):
    victim = tmp_path / "pwned"
    path = tmp_path / "m.pt"
    save_torch_file({"format": "grasp_agent.world_model/1", "class": "subprocess:Popen",
                     "config": {"args": ["touch", str(victim)]}, "state_dict": {}, "extra": {}}, path)
    with pytest.raises(CheckpointError, match="not imported|not a WorldModel"):
        load_world_model(path)
    save_torch_file({"format": "grasp_agent.world_model/1", "class": "grasp_agent.utils:Path",
                     "config": {}, "state_dict": {}, "extra": {}}, path)
    with pytest.raises(CheckpointError, match="not a WorldModel"):
        load_world_model(path)
    assert not victim.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_cuda_on_a_cpu_only_torch_gives_the_planners_error(tmp_path):
    path = _world_model_file(tmp_path)
    with pytest.raises(ValueError, match="CUDA is not available; use 'cpu' or 'auto'"):
        load_world_model(path, device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        load_planner_agent(_agent_file(tmp_path), device="cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        load_world_model(path, device="tpu")


def test_files_round_trip_numpy_and_spaces_exactly(tmp_path):
    space = gym.spaces.Dict({"a": gym.spaces.Box(-1, 2, (3,), np.float32),
                             "b": gym.spaces.Discrete(4, start=1), "c": gym.spaces.MultiDiscrete([2, 3]),
                             "d": gym.spaces.MultiBinary(5)})
    value = {"space": space, "arr": np.arange(6, dtype=np.uint16).reshape(2, 3), "scalar": np.float32(0.5),
             "state": np.random.default_rng(1).bit_generator.state, "legacy": np.random.get_state(),
             "t": torch.ones(2), "tuple": (1, None, "x"), 7: [np.int64(3)]}
    save_torch_file(value, tmp_path / "v.pt")
    back = load_torch_file(tmp_path / "v.pt", "test file")
    assert back["space"] == space and back["scalar"] == np.float32(0.5) and type(back["scalar"]) is np.float32
    np.testing.assert_array_equal(back["arr"], value["arr"])
    assert back["arr"].dtype == np.uint16 and back["state"] == value["state"]
    assert back["tuple"] == (1, None, "x")
    np.testing.assert_array_equal(back["legacy"][1], value["legacy"][1])
    assert back[7] == [3] and isinstance(back[7][0], np.int64)
    with pytest.raises(TypeError, match="cannot store a .*Generator"):
        save_torch_file({"g": np.random.default_rng()}, tmp_path / "x.pt")


def test_crashed_saves_leave_no_tmp_files_after_the_next_save_or_load(tmp_path):
    path = _world_model_file(tmp_path)
    dead_pid = 2 ** 22 + 12345  # above Linux's pid_max default: never a live process
    stale = [tmp_path / f".model.pt.{dead_pid}.abcd1234.tmp",
             tmp_path / f".model.pt.{os.getpid()}.x1y2z3w4.tmp"]
    old = tmp_path / ".model.pt.oldstyle.tmp"
    for p in (*stale, old):
        p.write_bytes(b"partial")
    os.utime(old, (0, 0))  # a name without a pid: removed once older than an hour
    live = tmp_path / f".model.pt.{os.getppid()}.live0000.tmp"  # a live writer's file stays
    live.write_bytes(b"in progress")
    load_world_model(path)
    assert not any(p.exists() for p in (*stale, old)) and live.exists()
    for p in stale:
        p.write_bytes(b"partial")
    save_world_model(MLPWorldModel(3, 2, hidden_sizes=(8,)), path)
    assert not any(p.exists() for p in stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.pt", live.name])


def test_a_file_written_before_checksums_still_loads(tmp_path):
    path = _world_model_file(tmp_path)
    ckpt = load_torch_file(path, "world-model checkpoint")
    torch.save(ckpt, path)  # an archive without the trailer, plain data only
    assert isinstance(load_world_model(path), MLPWorldModel)
