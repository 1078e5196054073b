"""Where genointerp keeps downloaded data sets and derived files."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from .names import ENV_CACHE


def cache_root() -> Path:
    """The cache folder: ``$GENOINTERP_CACHE`` or the user's cache dir (``~/.cache/genointerp``)."""
    env = os.environ.get(ENV_CACHE)
    root = Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("genointerp"))
    return root


def cache_subdir(*parts: str) -> Path:
    """A sub-folder of the cache, created on first use."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
