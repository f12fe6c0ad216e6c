"""Make ``grasp_agent.agents``, ``.wrappers`` and ``.experiments`` importable from a source checkout.

The repository keeps these packages as top-level folders beside ``grasp_agent/``; an install
(wheel or editable) maps them into this namespace through ``package_dir`` in ``setup.cfg``.
When the package is imported straight from a checkout (the repository root on ``sys.path``,
as pytest and ``python -m`` do), this finder does the same mapping, so there is one import
path, ``grasp_agent.<name>``, in every case. Nothing is installed under the generic names.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

MAPPED = ("agents", "wrappers", "experiments")


class _CheckoutFinder(importlib.abc.MetaPathFinder):
    """Finds ``grasp_agent.<name>`` in ``<repository>/<name>/`` for the names in :data:`MAPPED`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(self, fullname: str, path: object = None, target: object = None
                  ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.partition(".")
        if package != __package__ or name not in MAPPED:
            return None
        folder = self.root / name
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])


def install() -> None:
    """Register the finder when this package runs from a checkout (no-op when installed)."""
    here = Path(__file__).resolve().parent
    root = here.parent
    if (here / MAPPED[0]).is_dir() or not all((root / n / "__init__.py").is_file() for n in MAPPED):
        return  # installed: the folders live inside the package
    if not any(isinstance(f, _CheckoutFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _CheckoutFinder(root))
