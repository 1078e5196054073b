"""Which features and which parts of the genome an export covers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from .._regions import parse_region_text
from ..errors import GenointerpError

CLASSES = ("known", "candidate_novel", "uncharacterised", "dense", "dead")
DEFAULT_CLASSES = ("known", "candidate_novel")
# how each class is ranked (column, best first): known by held-out element-F1,
# candidates by novelty, the rest by how often they fire
_ORDER = {
    "known": ("test_element_f1", False),
    "candidate_novel": ("novelty", False),
}


class Region(NamedTuple):
    """A 0-based half-open stretch ``[start, end)`` of genome contig ``contig``."""

    contig: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.contig}:{self.start + 1}-{self.end}"


def read_catalog(path: str | Path) -> pd.DataFrame:
    """``catalog.tsv`` (from ``genointerp rank``) as a table; a clear error when missing."""
    path = Path(path)
    if path.is_dir():
        path = path / "catalog.tsv"
    if not path.is_file():
        raise GenointerpError(
            f"{path}: no feature catalog. Fix: run 'genointerp rank ... -o {path.parent}' "
            "(or 'genointerp demo') first"
        )
    table = pd.read_csv(path, sep="\t")
    missing = {"feature", "class"} - set(table.columns)
    if missing:
        raise GenointerpError(
            f"{path}: not a catalog table (no column {', '.join(sorted(missing))}). "
            "Fix: point at the catalog.tsv that 'genointerp rank' wrote"
        )
    return table


def select_features(
    catalog: pd.DataFrame,
    *,
    features: Iterable[int] | None = None,
    classes: Sequence[str] | None = None,
    concepts: Sequence[str] | None = None,
    n_known: int | None = 50,
    n_novel: int | None = 50,
    per_family: bool = True,
    source: str = "catalog",
) -> pd.DataFrame:
    """The catalog rows to export, in export order.

    Parameters
    ----------
    catalog
        The catalog table (:func:`read_catalog`).
    features
        Exactly these feature ids (in this order); the other options are ignored.
    classes
        Classes to take (default: ``known`` and ``candidate_novel``).
    concepts
        Only features whose best concept is one of these.
    n_known, n_novel
        How many of each class, best first: known by held-out element-F1, candidates (and
        any other class asked for) by novelty or, lacking it, by density. None: all.
    per_family
        Take only each feature family's best member (the catalog's ``family_best``), so
        near-copies of one feature do not fill the tracks; ignored for catalogs made
        before families.
    source
        Name of the catalog file, for error messages.

    Examples
    --------
    >>> table = gi.export.read_catalog("run/catalog")                     # doctest: +SKIP
    >>> gi.export.select_features(table, n_known=10, n_novel=0)          # doctest: +SKIP
    """
    if features is not None:
        return _by_id(catalog, list(features), source)
    classes = list(classes or DEFAULT_CLASSES)
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise GenointerpError(
            f"unknown feature class {unknown[0]!r}. Fix: use some of {', '.join(CLASSES)}"
        )
    table = catalog
    if concepts is not None:
        if "best_concept" not in table:
            raise GenointerpError(
                f"{source}: no 'best_concept' column to select concepts by. Fix: rank again "
                "with 'genointerp rank', or select features by id"
            )
        table = table[table["best_concept"].isin(list(concepts))]
    parts = []
    for cls in dict.fromkeys(classes):  # a class named twice is exported once
        rows = table[table["class"] == cls]
        if per_family and "family_best" in rows:
            rows = rows[rows["family_best"].astype(bool)]
        column, ascending = _ORDER.get(cls, ("novelty", False))
        if column not in rows or rows[column].isna().all():
            column, ascending = "density", False
        if column in rows:
            rows = rows.sort_values([column, "feature"], ascending=[ascending, True])
        limit = n_known if cls == "known" else n_novel
        parts.append(rows if limit is None else rows.head(limit))
    chosen = pd.concat(parts) if parts else catalog.iloc[:0]
    return chosen.reset_index(drop=True)


def _by_id(catalog: pd.DataFrame, wanted: list[int], source: str) -> pd.DataFrame:
    index = catalog.set_index("feature", drop=False)
    missing = [f for f in wanted if f not in index.index]
    if missing:
        top = int(catalog["feature"].max()) if len(catalog) else -1
        raise GenointerpError(
            f"{source}: no feature {missing[0]} (features are 0..{top}). Fix: pick ids from "
            "the catalog's 'feature' column"
        )
    return index.loc[list(dict.fromkeys(wanted))].reset_index(drop=True)


def parse_regions(regions: Iterable[str | Region], genome_aliases, lengths) -> list[Region]:
    """Regions like ``"chr:1001-2000"`` (1-based inclusive, as browsers show them) or a
    whole contig ``"chr"``, resolved to the genome's names, sorted and merged.

    ``genome_aliases`` is a :class:`~genointerp.io.ContigAliases`; ``lengths`` the
    genome's ``{contig: length}``.

    Examples
    --------
    >>> from genointerp.io import ContigAliases
    >>> parse_regions(["c:11-20", "c:15-30"], ContigAliases(["c"]), {"c": 100})
    [Region(contig='c', start=10, end=30)]
    """
    parsed = []
    for text in regions:
        region = text if isinstance(text, Region) else _parse_one(str(text), genome_aliases)
        length = lengths[region.contig]
        region = region if region.end >= 0 else region._replace(end=length)
        if not 0 <= region.start < region.end <= length:
            raise GenointerpError(
                f"region {text!r} is outside contig {region.contig!r} (1-{length}) or empty. "
                "Fix: give contig:start-end with 1 <= start <= end <= the contig's length"
            )
        parsed.append(region)
    return _merge(parsed, list(lengths))


def _parse_one(text: str, aliases) -> Region:
    name, start, end = parse_region_text(text)
    contig = aliases.get(name)
    if contig is None:
        raise GenointerpError(
            f"region {text!r}: contig {name!r} is not in the genome. Fix: use one "
            f"of {', '.join(aliases.contigs[:5])} (or an alias of one)"
        )
    return Region(contig, start, -1 if end is None else end)


def _merge(regions: list[Region], order: list[str]) -> list[Region]:
    rank = {c: i for i, c in enumerate(order)}
    merged: list[Region] = []
    for r in sorted(regions, key=lambda r: (rank[r.contig], r.start)):
        if merged and merged[-1].contig == r.contig and r.start <= merged[-1].end:
            merged[-1] = merged[-1]._replace(end=max(merged[-1].end, r.end))
        else:
            merged.append(r)
    return merged
