"""MkDocs hooks for the API reference.

1. **Source layout.** In the repository ``agents/``, ``wrappers/`` and ``experiments/`` sit beside
   ``grasp_agent/``; an install maps them to ``grasp_agent.agents``, ``.wrappers`` and
   ``.experiments`` (``package_dir`` in ``setup.cfg``). Before each build :func:`on_config` writes
   ``build/docs-api-src/grasp_agent/``, a folder of symlinks to the package's modules plus those
   three folders, which ``mkdocs.yml`` gives mkdocstrings as its search path. The reference
   therefore documents the checkout being built, never another installed copy.
2. **The public-API table.** :func:`on_page_markdown` replaces the marker
   ``<!-- public-api -->`` in ``api/index.md`` with one row per name of ``grasp_agent.__all__``,
   each a cross-reference to the subpackage page that documents it. A public name that no page
   documents is then an unresolved reference, which fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
from pathlib import Path
from typing import Any

MAPPED = ("agents", "wrappers", "experiments")
STAGE = Path("build") / "docs-api-src"
MARKER = "<!-- public-api -->"
#: Subpackages with an API page, in the order a name is looked up (its first ``__all__`` wins).
SUBPACKAGES = ("planners", "models", "agents", "wrappers", "data", "training", "dyna", "types")
UNLISTED = ("__version__",)


def on_config(config: Any) -> Any:
    """Rebuild the staged source tree at the start of every build."""
    root = Path(config.config_file_path).resolve().parent
    stage = root / STAGE
    shutil.rmtree(stage, ignore_errors=True)
    package = stage / "grasp_agent"
    package.mkdir(parents=True)
    for entry in sorted((root / "grasp_agent").iterdir()):
        if entry.name != "__pycache__" and entry.name not in MAPPED:
            (package / entry.name).symlink_to(entry)
    for name in MAPPED:
        (package / name).symlink_to(root / name)
    return config


# before mkdocstrings sets up its handler, which reads the search path (what
# mkdocs.plugins.event_priority(100) does, without importing mkdocs where the tests use this file)
on_config.mkdocs_priority = 100  # type: ignore[attr-defined]


def public_api() -> list[tuple[str, str]]:
    """``(name, documented identifier)`` for every name of ``grasp_agent.__all__``.

    Raises:
        LookupError: a public name that no subpackage of :data:`SUBPACKAGES` exports.
    """
    import grasp_agent

    rows = []
    for name in grasp_agent.__all__:
        if name in UNLISTED:
            continue
        for sub in SUBPACKAGES:
            module = importlib.import_module(f"grasp_agent.{sub}")
            exported = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
            if name in exported:
                ident = f"grasp_agent.{sub}.{name}"
                if hasattr(module, "__path__") and importlib.util.find_spec(ident) is not None:
                    # a submodule of the same name
                    obj = getattr(module, name)  # (grasp_agent.data.collect): use the object's own path
                    ident = f"{obj.__module__}.{obj.__qualname__}"
                rows.append((name, ident))
                break
        else:
            raise LookupError(f"grasp_agent.{name} is public but no documented subpackage "
                              f"({', '.join(SUBPACKAGES)}) lists it in __all__")
    return rows


def api_table() -> str:
    """The Markdown table that replaces :data:`MARKER`: name, kind and the page that documents it."""
    lines = ["| name | kind | documented in |", "|---|---|---|"]
    for name, ident in public_api():
        sub = ident.split(".")[1]
        obj = getattr(importlib.import_module(f"grasp_agent.{sub}"), name)
        kind = "class" if isinstance(obj, type) else "function" if callable(obj) else type(obj).__name__
        page = "types-envs" if sub == "types" else sub
        lines.append(f"| [`{name}`][{ident}] | {kind} | [`grasp_agent.{sub}`]({page}.md) |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Fill the public-API table into ``api/index.md``."""
    if MARKER in markdown:
        return markdown.replace(MARKER, api_table())
    return markdown
