"""Find the YAML folders that ship with genointerp (catalogs and data-set manifests)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# Top-level repository folder -> folder it is installed as inside the package (pyproject.toml).
_SHIPPED = {"annotations": "catalogs", "data_manifests": "manifests"}


def shipped_dir(folder: str) -> Path:
    """The folder in a source checkout (editable install) or inside the installed package.

    The installed copies are data folders without ``__init__.py``; ``importlib.resources``
    treats them as namespace packages whose ``files()`` is not a plain path, so they are
    found beside this module instead.
    """
    checkout = _PACKAGE.parent / folder
    if checkout.is_dir():
        return checkout
    return _PACKAGE / _SHIPPED[folder]
