"""``tracks.json``: the one index of an export, read by the viewer and the report."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from .._atomic import atomic_path
from .._rundir import relative_path
from ..errors import GenointerpError, StoreVersionError

TRACKS_FORMAT = "genointerp-tracks"
TRACKS_VERSION = "0.1.0"
TRACKS_FILE = "tracks.json"

TrackGroup = Literal["annotation", "concept", "feature", "feature_set"]
TrackFormat = Literal["bed", "bigbed", "bigwig", "bedgraph"]
TRACK_GROUPS: tuple[str, ...] = get_args(TrackGroup)
TRACK_FORMATS: tuple[str, ...] = get_args(TrackFormat)


@dataclass
class Track:
    """One exported file, as ``tracks.json`` lists it.

    ``path`` is where the file is on disk; :meth:`to_json` writes it relative to the
    export folder.  ``cls`` is the feature class (``"class"`` in JSON).
    """

    id: str
    name: str
    group: str
    format: str
    path: Path
    feature: int | None = None
    cls: str | None = None
    concept: str | None = None
    strand: str | None = None
    color: str = "0,0,0"
    bed_columns: int = 9  # BED9 or BED12 (bed / bigbed); not written to tracks.json

    def to_json(self, root: Path) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "group": self.group,
            "format": self.format,
            "path": relative_path(self.path, root),
            "feature": self.feature,
            "class": self.cls,
            "concept": self.concept,
            "strand": self.strand,
            "color": self.color,
        }


def write_tracks_json(
    root: str | Path,
    genome: dict,
    default_locus: str,
    tracks: list[Track],
    features: list[dict],
) -> Path:
    """Write ``<root>/tracks.json`` atomically; every listed path must exist under ``root``."""
    root = Path(root)
    listed = [t.to_json(root) for t in tracks]
    for entry in listed:
        if not (root / entry["path"]).is_file():
            raise GenointerpError(f"{root}: track file {entry['path']} is missing")
    index = {
        "format": TRACKS_FORMAT,
        "version": TRACKS_VERSION,
        "genome": genome,
        "default_locus": default_locus,
        "tracks": listed,
        "features": [_clean(f) for f in features],
    }
    path = root / TRACKS_FILE
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(index, indent=1, allow_nan=False) + "\n")
    return path


def read_tracks_json(root: str | Path) -> dict:
    """Read ``tracks.json`` of an export folder (or the file itself), checking its format.

    Examples
    --------
    >>> index = gi.export.read_tracks_json("run/tracks")                 # doctest: +SKIP
    >>> [t["path"] for t in index["tracks"] if t["format"] == "bigwig"][:2]  # doctest: +SKIP
    """
    path = Path(root)
    path = path / TRACKS_FILE if path.is_dir() else path
    if not path.is_file():
        raise GenointerpError(f"{path}: no such file. Fix: run 'genointerp export RUN_DIR' first")
    try:
        index = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise GenointerpError(
            f"{path}: not valid JSON ({err}). Fix: export again with 'genointerp export'"
        ) from err
    if index.get("format") != TRACKS_FORMAT or index.get("version") != TRACKS_VERSION:
        raise StoreVersionError(
            f"{path}: format {index.get('format')!r} version {index.get('version')!r}, expected "
            f"{TRACKS_FORMAT!r} {TRACKS_VERSION}. Fix: export again with 'genointerp export'"
        )
    return index


def _clean(value):
    """JSON-safe: NaN -> None, numpy scalars -> Python numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
