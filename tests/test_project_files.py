"""Project files users expect: one version, a license, a citation, a changelog, CI = the README."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

import grasp_agent

ROOT = Path(__file__).resolve().parents[1]
MAIN_COMMAND = 'python3 -m pip install "tox>=4.11" && python3 -m tox -e quickstart'
TEST_COMMAND = 'python3 -m pip install --quiet "tox>=4.11" && python3 -m tox -e py,kernels,lint,docs'


def test_version_is_defined_once_and_citation_repeats_it() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert setup["metadata"]["version"].strip() == "attr: grasp_agent.__version__"
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(citation["version"]) == grasp_agent.__version__
    assert citation["license"] == setup["metadata"]["license"].strip() == "MIT"


def test_citation_points_to_the_grasp_paper() -> None:
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    (paper,) = [r for r in citation["references"] if "Planning for World Models" in r["title"]]
    authors = [a["family-names"] for a in paper["authors"]]
    assert authors == ["Psenka", "Rabbat", "Krishnapriyan", "LeCun", "Bar"]
    assert any("2602.00475" in str(i["value"]) for i in paper["identifiers"])


def test_license_is_mit() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_changelog_has_unreleased_and_the_current_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert re.search(rf"^## \[{re.escape(grasp_agent.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.M)


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    fence = lines.index("```bash")
    assert lines[fence + 1].startswith(MAIN_COMMAND) and lines[fence + 2].startswith(TEST_COMMAND)
    assert fence < 5, "the two commands come first"
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 160


def test_no_reference_to_the_out_of_repo_algorithm_notes() -> None:
    """The algorithm is documented in docs/algorithm.md; nothing points outside the repository."""
    offenders = []
    for folder in ("grasp_agent", "agents", "wrappers", "experiments", "docs", "tests"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".md", ".yaml"} and path.name != Path(__file__).name \
                    and "shared/GRASP.md" in path.read_text(errors="ignore"):
                offenders.append(path.relative_to(ROOT).as_posix())
    if "shared/GRASP.md" in (ROOT / "README.md").read_text():
        offenders.append("README.md")
    assert not offenders, offenders


def test_readme_links_point_at_files_in_the_repository() -> None:
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert local, "the README links to the docs"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, missing
