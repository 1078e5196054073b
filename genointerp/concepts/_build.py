"""Build concept tracks for a genome from a catalog and annotation files."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyranges as pr
from tqdm.auto import tqdm

from .. import names
from ..io import Genome
from ..io._read import annotation_table
from ._catalog import Catalog, load_catalog
from ._derive import derive
from ._tracks import ConceptTracks

log = logging.getLogger(__name__)


def build(
    genome: Genome | str,
    catalog: Catalog | str | Path | None = None,
    annotations: pr.PyRanges | pd.DataFrame | Iterable[str | Path] | None = None,
    *,
    concepts: Iterable[str] | None = None,
    progress: bool = False,
) -> ConceptTracks:
    """Derive every concept of ``catalog`` on ``genome``.

    Parameters
    ----------
    genome
        A :class:`~genointerp.io.Genome`, or the name of a data set (then its
        genome, default annotations and default catalog are used).
    catalog
        A :class:`Catalog`, a built-in catalog name (``prokaryote``,
        ``eukaryote``, ``regulatory``) or a YAML path.  Default: the data set's.
    annotations
        Annotation rows (pyranges or table from :mod:`genointerp.io`) or files to
        read.  Default: the data set's annotation files.
    concepts
        Only build these concepts.

    Returns
    -------
    ConceptTracks
        Intervals per concept, with per-position masks through ``.mask()``.

    Examples
    --------
    >>> import genointerp as gi
    >>> tracks = gi.concepts.build("ecoli_k12")              # doctest: +SKIP
    >>> tracks.elements("trna").shape[0]                     # doctest: +SKIP
    86
    """
    if isinstance(genome, str):
        from ..datasets import load

        dataset = load(genome)
        genome = dataset.genome()
        catalog = catalog or dataset.manifest.catalog
        if annotations is None:
            annotations = dataset.annotation_table(genome)
    if catalog is None:
        raise ValueError("name a concept catalog (e.g. 'prokaryote') or pass a data set name")
    if annotations is None:
        raise ValueError("pass annotations (pyranges, a table, or annotation files)")
    catalog = catalog if isinstance(catalog, Catalog) else load_catalog(catalog)
    if concepts is not None:
        catalog = catalog.subset(list(concepts))
    table = _as_table(annotations, genome)
    pieces = []
    for spec in tqdm(catalog.concepts, desc="concepts", disable=not progress):
        parts = derive(spec, table, genome.lengths, genome.circular)
        if parts.empty:
            log.warning("concept %s: no annotation rows matched; its track is empty", spec.name)
        pieces.append(parts.assign(**{names.CONCEPT: spec.name}))
    intervals = pd.concat(pieces, ignore_index=True)
    intervals = intervals[[names.CONCEPT, *intervals.columns.drop([names.CONCEPT, names.PHASE])]]
    return ConceptTracks(
        catalog.concepts,
        intervals,
        genome.lengths,
        genome_checksum=genome.checksum,
        catalog=catalog.catalog,
        catalog_sha256=catalog.sha256,
    )


def _as_table(annotations, genome: Genome) -> pd.DataFrame:
    if isinstance(annotations, pr.PyRanges):
        return annotations.df
    if isinstance(annotations, pd.DataFrame):
        return annotations
    tables = [annotation_table(p, genome) for p in annotations]
    return pd.concat(tables, ignore_index=True)
