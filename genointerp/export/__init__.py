"""Files for genome browsers: the one home of every BED, bigBed, bigWig, IGV session and hub.

:func:`export_run` writes a run's genome, concept tracks and chosen SAE features under
``RUN/tracks/`` and indexes them in ``tracks.json`` (read by the viewer and the report).
The smaller functions write one kind of file each, for use from a notebook.

>>> import genointerp as gi
>>> result = gi.export.export_run("genointerp_demo")                 # doctest: +SKIP
>>> result.igv_session, result.hub                                    # doctest: +SKIP

Names are imported on first use (as in :mod:`genointerp`), so the command line can read
the defaults in ``_options`` without loading pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "_bed": ("concept_beds",),
    "_bigfiles": ("autosql", "bed_to_bigbed", "write_bigwig"),
    "_contigs": ("ContigNames",),
    "_features": ("FeatureExport", "FeatureFiles", "feature_thresholds", "feature_tracks"),
    "_genome": ("GenomeFiles", "genome_files", "write_fasta"),
    "_index": (
        "TRACKS_FORMAT",
        "TRACKS_VERSION",
        "Track",
        "read_tracks_json",
        "write_tracks_json",
    ),
    "_options": ("NAMING_STYLES",),
    "_run": ("ANNOTATION_LANES", "ExportResult", "concept_tracks", "default_locus", "export_run"),
    "_select": ("Region", "parse_regions", "read_catalog", "select_features"),
    "_sessions": ("igv_session", "track_hub"),
    "_twobit": ("write_twobit",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

if TYPE_CHECKING:  # for readers and type checkers; at run time names load on first use
    from ._bed import concept_beds  # noqa: F401
    from ._bigfiles import autosql, bed_to_bigbed, write_bigwig  # noqa: F401
    from ._contigs import ContigNames  # noqa: F401
    from ._features import (  # noqa: F401
        FeatureExport,
        FeatureFiles,
        feature_thresholds,
        feature_tracks,
    )
    from ._genome import GenomeFiles, genome_files, write_fasta  # noqa: F401
    from ._index import (  # noqa: F401
        TRACKS_FORMAT,
        TRACKS_VERSION,
        Track,
        read_tracks_json,
        write_tracks_json,
    )
    from ._options import NAMING_STYLES  # noqa: F401
    from ._run import (  # noqa: F401
        ANNOTATION_LANES,
        ExportResult,
        concept_tracks,
        default_locus,
        export_run,
    )
    from ._select import Region, parse_regions, read_catalog, select_features  # noqa: F401
    from ._sessions import igv_session, track_hub  # noqa: F401
    from ._twobit import write_twobit  # noqa: F401


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genointerp.export' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = sorted(_WHERE)
