"""Build concept tracks for a genome from a catalog and annotation files."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import pandas as pd
import pyranges as pr
from tqdm.auto import tqdm

from .. import names
from ..io import Genome
from ..io._read import annotation_table
from ._catalog import Catalog, load_catalog
from ._derive import derive
from ._dialects import empty_concept_hint
from ._motif import motif_parts, within
from ._tracks import ConceptTracks

log = logging.getLogger(__name__)


def build(
    genome: Genome | str,
    catalog: Catalog | str | Path | None = None,
    annotations: pr.PyRanges | pd.DataFrame | Iterable[str | Path] | None = None,
    *,
    concepts: Iterable[str] | None = None,
    annotate: bool | Iterable[str] = False,
    translation_table: int | Literal["auto"] = "auto",
    kingdom: Literal["bac", "arc"] | None = None,
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
        ``eukaryote``, ``regulatory``, ``bacterial_motifs``) or a YAML path.  Default:
        the data set's.
    annotations
        Annotation rows (pyranges or table from :mod:`genointerp.io`) or files to
        read; ``[]`` for none (annotators alone).  Default: the data set's annotation files.
    concepts
        Only build these concepts.
    annotate
        Run sequence annotators (:mod:`genointerp.annotate`) and add their rows to the
        curated ones: ``True`` for all of them, or a list of names (``prodigal``, ``aragorn``,
        ``barrnap``, ``transtermhp``, ``pilercr``).  The annotators a catalog concept names in
        ``annotators:`` always run.  Their outputs are cached beside the genome.
    translation_table
        Genetic code for Prodigal; ``"auto"`` lets :func:`genointerp.annotate.annotate` choose.
    kingdom
        ``bac`` or ``arc`` for barrnap; default: ``arc`` for a data set of kind ``archaeon``,
        else ``bac``.

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
        if kingdom is None and dataset.manifest.kind == "archaeon":
            kingdom = "arc"
        if annotations is None:
            annotations = dataset.annotation_table(genome)
    if catalog is None:
        raise ValueError("name a concept catalog (e.g. 'prokaryote') or pass a data set name")
    if annotations is None:
        raise ValueError("pass annotations (pyranges, a table, or annotation files; [] for none)")
    full = catalog if isinstance(catalog, Catalog) else load_catalog(catalog)
    wanted = full.subset(list(concepts)) if concepts is not None else full
    asked, named = _annotators(wanted, annotate)
    options = {"translation_table": translation_table, "kingdom": kingdom or "bac"}
    curated = _as_table(annotations, genome)  # a bad file fails before any annotator runs
    found = _run_annotators(genome, asked, named, progress, **options) if asked or named else None
    rows = _Rows(curated, asked, found)
    derived: dict[str, pd.DataFrame] = {}  # a motif's 'within' region is derived on demand
    pieces = []
    for spec in tqdm(wanted.concepts, desc="concepts", disable=not progress):
        parts = _parts(spec, full, rows, genome, derived)
        if parts.empty:
            hint = "" if spec.motif else empty_concept_hint(spec, rows.table(spec))
            log.warning(
                "concept %s: no %s; its track is empty%s",
                spec.name,
                "motif sites found" if spec.motif else "annotation rows matched",
                f". {hint}" if hint else "",
            )
        pieces.append(parts.assign(**{names.CONCEPT: spec.name}))
    intervals = pd.concat(pieces, ignore_index=True)
    intervals = intervals[[names.CONCEPT, *intervals.columns.drop([names.CONCEPT, names.PHASE])]]
    return ConceptTracks(
        wanted.concepts,
        intervals,
        genome.lengths,
        genome_checksum=genome.checksum,
        catalog=wanted.catalog,
        catalog_sha256=wanted.sha256,
    )


class _Rows:
    """Annotation rows as each concept sees them: the curated rows plus the rows of the
    annotators asked for, plus those of the annotators the concept itself names."""

    def __init__(self, base: pd.DataFrame, asked: list[str], found: pd.DataFrame | None = None):
        self.found = found if found is not None else pd.DataFrame({names.ANNOTATOR: []})
        found = self.found
        self._shared = _concat(base, found[found[names.ANNOTATOR].isin(asked)])
        self._asked = set(asked)
        self._tables: dict[tuple[str, ...], pd.DataFrame] = {}

    def table(self, spec) -> pd.DataFrame:
        extra = tuple(t for t in spec.annotators if t not in self._asked)
        if not extra:
            return self._shared
        if extra not in self._tables:
            own = self.found[self.found[names.ANNOTATOR].isin(extra)]
            self._tables[extra] = _concat(self._shared, own)
        return self._tables[extra]


def _run_annotators(genome, asked, named, progress, **options) -> pd.DataFrame:
    """Rows of the annotators asked for (a missing program is an error) and of those only
    concepts name (a missing program leaves those concepts empty, with a warning)."""
    from ..annotate import AnnotatorUnavailableError, annotate

    found = [annotate(genome, asked, progress=progress, **options)] if asked else []
    for tool in tqdm(named, desc="annotators named by concepts", disable=not progress):
        try:
            found.append(annotate(genome, [tool], **options))
        except AnnotatorUnavailableError as exc:
            log.warning("concepts that need annotator %s are left empty: %s", tool, exc)
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame({names.ANNOTATOR: []})


def _concat(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    if not len(b):
        return a
    return pd.concat([a, b], ignore_index=True) if len(a) else b.reset_index(drop=True)


def _annotators(catalog: Catalog, annotate: bool | Iterable[str]) -> tuple[list[str], list[str]]:
    """``(asked, named)``: annotators asked for (their rows reach every concept), and the
    others that concepts name in ``annotators:`` (their rows reach only those concepts)."""
    named = [tool for spec in catalog.concepts for tool in spec.annotators]
    if annotate is False and not named:
        return [], []
    from ..annotate import ANNOTATORS

    asked = list(ANNOTATORS) if annotate is True else list(annotate or [])
    unknown = sorted(set(asked + named) - set(ANNOTATORS))
    if unknown:
        raise ValueError(
            f"unknown annotator(s) {', '.join(unknown)}. Fix: use {', '.join(ANNOTATORS)}"
        )
    return (
        [t for t in ANNOTATORS if t in asked],
        [t for t in ANNOTATORS if t in named and t not in asked],
    )


def _parts(spec, catalog: Catalog, rows: _Rows, genome: Genome, derived: dict) -> pd.DataFrame:
    """A concept's parts; a motif's ``within`` region is derived on demand (and kept)."""
    if spec.name in derived:
        return derived[spec.name]
    if spec.motif is None:
        parts = derive(spec, rows.table(spec), genome.lengths, genome.circular)
    else:
        parts = motif_parts(spec, genome)
        if spec.motif.within:
            if spec.motif.within not in catalog.names:
                raise ValueError(
                    f"motif concept {spec.name} is scanned within {spec.motif.within!r}, which "
                    f"catalog {catalog.catalog!r} lacks. Fix: include the catalog that defines "
                    "it (e.g. prokaryote) or drop 'within'"
                )
            region = _parts(catalog[spec.motif.within], catalog, rows, genome, derived)
            parts = within(parts, region)
    derived[spec.name] = parts
    return parts


def _as_table(annotations, genome: Genome) -> pd.DataFrame:
    if isinstance(annotations, pr.PyRanges):
        return annotations.df
    if isinstance(annotations, pd.DataFrame):
        return annotations
    tables = [annotation_table(p, genome) for p in annotations]
    if not tables:  # annotators alone
        return pd.DataFrame({column: [] for column in names.ANNOTATION_COLUMNS})
    return pd.concat(tables, ignore_index=True)
