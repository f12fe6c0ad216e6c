"""One namespace: every module imports on its own (no import cycles), and the wheel installs exactly
one top-level import name, ``grasp_agent``, with the experiment configs and the console script."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: repository folder -> the import name it has (setup.cfg ``package_dir``; grasp_agent/_layout.py)
SOURCES = {"grasp_agent": "grasp_agent", "agents": "grasp_agent.agents",
           "wrappers": "grasp_agent.wrappers", "experiments": "grasp_agent.experiments"}
BARE_NAMES = ("agents", "wrappers", "experiments")
#: extras: a module that needs a missing one is skipped, not failed
OPTIONAL = ("pybullet", "minigrid", "stable_baselines3", "tensorboard", "matplotlib", "pygame")
#: third-party packages the import runner loads once before forking (they cannot hide our cycles)
PRELOAD = ("numpy", "torch", "gymnasium", "yaml", "tqdm", *OPTIONAL)
BUILD_FILES = ("setup.cfg", "setup.py", "pyproject.toml", "README.md")
SUBPROCESS_TIMEOUT_S = 600
IMPORT_JOBS = max(1, min(4, os.cpu_count() or 1))  # import children in flight at once

# Imports each module of argv[4] (a JSON list) in a fresh child forked from a process that has
# loaded only third-party packages: as isolated as `python -c "import <module>"`, at a fraction
# of the cost (no interpreter and torch start-up per module); argv[6] children run at a time,
# each writing its result to argv[5]/<i>.json. Prints {module: [status, detail]}.
IMPORT_RUNNER = r"""
import importlib, json, os, sys, traceback
preload, optional, bare, modules = (json.loads(a) for a in sys.argv[1:5])
out_dir, jobs = sys.argv[5], int(sys.argv[6])
for name in preload:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
ours = [m for m in sys.modules if m.split(".")[0] == "grasp_agent"]
assert not ours, f"preloading third-party packages imported {ours}"

def check(module):
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] in optional:
            return ["skip", f"needs the optional package {err.name}"]
        return ["fail", traceback.format_exc()]
    except BaseException:
        return ["fail", traceback.format_exc()]
    leaked = sorted(n for n in bare if n in sys.modules)
    if leaked:
        return ["fail", f"imported the bare top-level name(s) {leaked}; import grasp_agent.<name>"]
    return ["ok", ""]

results, pending = {}, {}

def reap():
    pid, status = os.wait()
    module, path = pending.pop(pid)
    try:
        with open(path) as fh:
            results[module] = json.load(fh)
    except (OSError, ValueError):
        results[module] = ["fail", f"the child died (wait status {status})"]

for i, module in enumerate(modules):
    while len(pending) >= jobs:
        reap()
    path = os.path.join(out_dir, f"{i}.json")
    pid = os.fork()
    if pid == 0:
        result = check(module)
        with open(path, "w") as fh:
            json.dump(result, fh)
        os._exit(0)
    pending[pid] = (module, path)
while pending:
    reap()
print(json.dumps(results))
"""


def source_modules() -> list[str]:
    """Every module of the package as its installed name (``agents/io.py`` -> ``grasp_agent.agents.io``)."""
    modules = []
    for folder, prefix in SOURCES.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base)
            folders = (base.joinpath(*rel.parts[:i]) for i in range(len(rel.parts)))
            if not all((folder / "__init__.py").is_file() for folder in folders):
                continue  # not inside a package (no __init__.py on the way): never installed
            parts = rel.with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            modules.append(".".join((prefix, *parts)))
    return modules


def test_the_source_tree_has_the_expected_packages():
    modules = source_modules()
    assert len(modules) == len(set(modules))
    for name in ("grasp_agent", "grasp_agent.agents.planner_agent", "grasp_agent.wrappers.latent_goal",
                 "grasp_agent.experiments.runner", "grasp_agent.experiments.__main__",
                 "grasp_agent.models.registry", "grasp_agent.planners.registry"):
        assert name in modules


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="the isolated-import runner forks (POSIX only)")
def test_every_module_imports_in_isolation(tmp_path):
    modules = source_modules()
    # bytecode compiled by the first child is reused by the next ones (kept out of the checkout)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    proc = subprocess.run([sys.executable, "-c", IMPORT_RUNNER, json.dumps(PRELOAD), json.dumps(OPTIONAL),
                           json.dumps(BARE_NAMES), json.dumps(modules), str(tmp_path), str(IMPORT_JOBS)],
                          cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(results) == sorted(modules)
    failed = {m: detail for m, (status, detail) in results.items() if status == "fail"}
    assert not failed, "modules that fail to import on their own:\n" + "\n".join(
        f"--- {m}\n{detail}" for m, detail in failed.items())
    skipped = [m for m, (status, _) in results.items() if status == "skip"]
    assert len(skipped) < len(modules) // 2, f"too many modules skipped for missing extras: {skipped}"


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, **kwargs)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> tuple[Path, Path]:
    """Build the wheel from a copy of the sources (the checkout stays clean) and install it with
    ``pip install --no-deps --target``; returns ``(wheel, target dir)``."""
    try:
        import setuptools  # noqa: F401
    except ImportError:
        pytest.fail("building the wheel needs setuptools>=70.1 in the test env: pip install -e '.[dev]'")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "runs")
    for folder in SOURCES:
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for name in BUILD_FILES:
        shutil.copy2(ROOT / name, src / name)
    # no build isolation: the test env's setuptools builds it, without reaching an index
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir",
          "--quiet", "--wheel-dir", str(tmp / "dist"), str(src)])
    wheels = list((tmp / "dist").glob("grasp_agent-*.whl"))
    assert len(wheels) == 1, wheels
    target = tmp / "target"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile", "--quiet",
          "--target", str(target), str(wheels[0])])
    return wheels[0], target


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_name(installed_wheel):
    wheel, target = installed_wheel
    entries = {p.name for p in target.iterdir()}
    dist_info = [n for n in entries if n.endswith(".dist-info")]
    assert len(dist_info) == 1
    # "bin" holds the console script that pip writes next to the packages with --target
    assert entries - set(dist_info) - {"bin"} == {"grasp_agent"}, entries
    top_level = (target / dist_info[0] / "top_level.txt")
    if top_level.exists():
        assert top_level.read_text().split() == ["grasp_agent"]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    in_wheel = {n.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
                for n in names if n.endswith(".py")}
    assert in_wheel == set(source_modules()), (  # a package missing from setup.cfg's list shows here
        f"missing from the wheel: {sorted(set(source_modules()) - in_wheel)}; "
        f"not in the sources: {sorted(in_wheel - set(source_modules()))}")
    configs = {Path(n).name for n in names if n.startswith("grasp_agent/experiments/configs/")}
    assert configs == {p.name for p in (ROOT / "experiments" / "configs").glob("*.yaml")}, configs


@pytest.mark.slow
def test_the_wheel_declares_the_console_script(installed_wheel):
    _, target = installed_wheel
    (dist_info,) = target.glob("grasp_agent-*.dist-info")
    entry_points = configparser.ConfigParser()
    entry_points.read(dist_info / "entry_points.txt")
    assert dict(entry_points["console_scripts"]) == {"grasp-agent": "grasp_agent.experiments.__main__:main"}


@pytest.mark.slow
def test_the_installed_wheel_imports_only_under_grasp_agent(installed_wheel, tmp_path):
    _, target = installed_wheel
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = ("import grasp_agent, grasp_agent.agents, grasp_agent.experiments.runner, grasp_agent.wrappers\n"
            "from grasp_agent.experiments.config import load_config\n"
            "print(grasp_agent.__file__)\n"
            "print(grasp_agent.agents.__file__)\n"
            "print(load_config('quickstart_smoke').name)\n")
    out = _run([sys.executable, "-c", code], cwd=tmp_path, env=env).stdout.split()
    assert Path(out[0]).parent == target / "grasp_agent"  # the wheel's copy, not the checkout
    assert Path(out[1]).parent == target / "grasp_agent" / "agents"
    assert out[2] == "quickstart_smoke"  # the bundled configs are found inside the installed package
    for bare in BARE_NAMES:
        proc = subprocess.run([sys.executable, "-c", f"import {bare}"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, (bare, proc.stderr)
