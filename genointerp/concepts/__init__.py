"""Concepts: annotation-derived tracks (CDS, start codons, tRNA, promoters, splice sites...).

A catalog (YAML in ``annotations/``) says how each concept derives from
annotation rows; :func:`build` applies it to a genome and returns
:class:`ConceptTracks`, with intervals as pyranges and per-position masks.
"""

from ._build import build
from ._catalog import Catalog, ConceptSpec, Select, Step, list_catalogs, load_catalog
from ._tracks import ConceptTracks

__all__ = [
    "Catalog",
    "ConceptSpec",
    "ConceptTracks",
    "Select",
    "Step",
    "build",
    "list_catalogs",
    "load_catalog",
]
