"""Every code example runs: the ```python blocks of README.md and docs/**/*.md are executed.

The blocks of one page run in order in one fresh interpreter (so a block may use the names of
the blocks before it), in a temporary working directory, with one torch thread. A block whose
first line is ``# not run: <reason>`` is only compiled. Tracebacks point at the page and the
line in it. Pages whose examples train models or run episodes for more than a few seconds are
marked slow.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import grasp_agent

ROOT = Path(__file__).resolve().parents[1]
NOT_RUN = "# not run:"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
#: Pages whose examples take more than a few seconds (they train a model or run episodes).
SLOW_PAGES = {"README.md", "docs/quickstart.md", "docs/guides/environments.md", "docs/guides/sb3.md",
              "docs/guides/dyna.md", "docs/guides/experiments.md", "docs/guides/saving-loading.md",
              "docs/guides/world-models.md", "docs/guides/long-horizons.md"}
TIMEOUT_S = 600

# Runs in the child interpreter: each block compiled with its page as file name and padded to
# its line in the page, executed in the globals of __main__ (as a user's script would be).
RUNNER = """
import json, sys
for block in json.load(sys.stdin):
    exec(compile("\\n" * block["line"] + block["code"], block["page"], "exec"), globals())
"""


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line before the code, code)`` of every ```python block, in order."""
    return [(text.count("\n", 0, m.start(1)), m.group(1)) for m in FENCE.finditer(text)]


def pages() -> list[str]:
    """Markdown files (relative to the repository root) that hold ```python blocks."""
    candidates = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [p.relative_to(ROOT).as_posix() for p in candidates if python_blocks(p.read_text())]


def _params() -> list:
    return [pytest.param(p, marks=pytest.mark.slow) if p in SLOW_PAGES else p for p in pages()]


def test_readme_and_guides_have_examples() -> None:
    found = set(pages())
    assert "README.md" in found and len(python_blocks((ROOT / "README.md").read_text())) >= 2
    for page in ("docs/quickstart.md", "docs/guides/environments.md", "docs/guides/world-models.md",
                 "docs/guides/planners.md", "docs/guides/sb3.md", "docs/guides/dyna.md",
                 "docs/guides/saving-loading.md"):
        assert page in found, page
    assert found >= SLOW_PAGES, f"SLOW_PAGES names pages without examples: {SLOW_PAGES - found}"


@pytest.mark.parametrize("page", _params())
def test_page_examples_run(page: str, tmp_path: Path) -> None:
    blocks = []
    for line, code in python_blocks((ROOT / page).read_text()):
        if code.lstrip().startswith(NOT_RUN):
            compile(code, page, "exec")  # still valid Python
            continue
        blocks.append({"page": str(ROOT / page), "line": line, "code": code})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
           "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(blocks), cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"an example in {page} failed:\n{proc.stderr[-6000:]}"


def test_fence_parser_keeps_line_numbers() -> None:
    text = "# title\n\n```python\nx = 1\n```\n\n```bash\nls\n```\n```python\ny = x\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (10, "y = x\n")]


def test_api_reference_lists_every_public_name() -> None:
    """The API index is generated from ``grasp_agent.__all__`` by the docs hook; every public name
    must be exported by a subpackage whose page documents it."""
    spec = importlib.util.spec_from_file_location("api_source", ROOT / "docs" / "hooks" / "api_source.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    listed = {name for name, _ in hook.public_api()}
    assert listed == set(grasp_agent.__all__) - set(hook.UNLISTED)
    pages_with_api = {p.stem for p in (ROOT / "docs" / "api").glob("*.md")}
    for sub in hook.SUBPACKAGES:
        assert ("types-envs" if sub == "types" else sub) in pages_with_api, sub
    assert hook.MARKER in (ROOT / "docs" / "api" / "index.md").read_text()


def test_algorithm_page_describes_every_grasp_config_field() -> None:
    """docs/algorithm.md has one row per GRASPConfig field with its default."""
    import dataclasses

    rows = {}
    for line in (ROOT / "docs" / "algorithm.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            names = [n.strip(" `") for n in cells[0].split(",")]
            defaults = [d.strip(" `") for d in cells[1].split(",")]
            rows.update(zip(names, defaults))
    for f in dataclasses.fields(grasp_agent.GRASPConfig):
        assert f.name in rows, f"docs/algorithm.md has no row for GRASPConfig.{f.name}"
        shown = rows[f.name].strip('"')
        assert shown == str(f.default), f"GRASPConfig.{f.name}: the page says {shown}, the code {f.default}"
