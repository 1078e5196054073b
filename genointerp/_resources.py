"""Find the YAML folders that ship with genointerp (catalogs and data-set manifests)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# Top-level repository folder -> package it is installed as (see pyproject.toml).
_SHIPPED = {"annotations": "genointerp.catalogs", "data_manifests": "genointerp.manifests"}


def shipped_dir(folder: str) -> Path:
    """The folder in a source checkout (editable install) or inside the installed package."""
    checkout = Path(__file__).resolve().parent.parent / folder
    if checkout.is_dir():
        return checkout
    return Path(str(resources.files(_SHIPPED[folder])))
