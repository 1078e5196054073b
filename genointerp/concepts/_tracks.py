"""Concept tracks: every concept's elements as intervals, and as per-position masks on demand."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyranges as pr

from .. import __version__, names
from .._atomic import atomic_path
from .._config import from_dict
from .._filekind import unreadable_hdf5
from ..errors import StoreVersionError
from ._catalog import ConceptSpec
from ._derive import PART_COLUMNS

ENCODING_TYPE = "concept-tracks"
ENCODING_VERSION = "0.1.0"
_STRAND_CODE = {"+": 1, "-": -1, ".": 0}


class ConceptTracks:
    """Concept tracks of one genome.

    Attributes
    ----------
    specs
        The concepts, in catalog order.
    intervals
        One row per part: Concept, Chromosome, Start, End, Strand, Element, Frame
        (0-based half-open; Frame -1 = every position, 0/1/2 = only positions
        ``p % 3 == Frame``, used by codon-position concepts).
    lengths
        ``{contig: length}`` of the genome the tracks belong to.
    genome_checksum, catalog_sha256
        Provenance, checked when tracks meet activations.
    """

    def __init__(
        self,
        specs: Sequence[ConceptSpec],
        intervals: pd.DataFrame,
        lengths: dict[str, int],
        *,
        genome_checksum: str = "",
        catalog: str = "",
        catalog_sha256: str = "",
    ) -> None:
        self.specs = list(specs)
        self.intervals = intervals.reset_index(drop=True)
        self.lengths = dict(lengths)
        self.genome_checksum = genome_checksum
        self.catalog = catalog
        self.catalog_sha256 = catalog_sha256
        self._by_contig = {c: g for c, g in self.intervals.groupby(names.CHROM, sort=False)}

    @property
    def concepts(self) -> list[str]:
        """Concept names in catalog order."""
        return [s.name for s in self.specs]

    def spec(self, concept: str) -> ConceptSpec:
        for spec in self.specs:
            if spec.name == concept:
                return spec
        raise KeyError(f"no concept {concept!r}; the tracks have {', '.join(self.concepts)}")

    def __repr__(self) -> str:
        return (
            f"ConceptTracks({len(self.specs)} concepts, {len(self.intervals):,} intervals, "
            f"{len(self.lengths)} contigs, catalog={self.catalog!r})"
        )

    # -- tables -----------------------------------------------------------------------
    def parts(self, concept: str) -> pd.DataFrame:
        """Intervals of one concept."""
        self.spec(concept)
        return (
            self.intervals[self.intervals[names.CONCEPT] == concept]
            .drop(columns=names.CONCEPT)
            .reset_index(drop=True)
        )

    def to_pyranges(self, concept: str | None = None) -> pr.PyRanges:
        """Intervals (of one concept, or all with a Concept column) as pyranges."""
        table = self.intervals if concept is None else self.parts(concept)
        return pr.PyRanges(table.copy())

    def elements(self, concept: str) -> pd.DataFrame:
        """One row per element: id, contig, strand, extent, number of parts and covered bp."""
        parts = self.parts(concept)
        covered = parts[names.END] - parts[names.START]
        covered = np.where(parts["Frame"] >= 0, covered // 3, covered)  # approx. for periodic
        return (
            parts.assign(bp=covered)
            .groupby(names.ELEMENT, sort=False)
            .agg(
                **{
                    names.CHROM: (names.CHROM, "first"),
                    names.STRAND: (names.STRAND, "first"),
                    names.START: (names.START, "min"),
                    names.END: (names.END, "max"),
                    "n_parts": (names.START, "size"),
                    "bp": ("bp", "sum"),
                }
            )
            .reset_index()
        )

    def summary(self) -> pd.DataFrame:
        """Per concept: stranded, elements, intervals and positions covered on each strand."""
        rows = []
        for spec in self.specs:
            parts = self.parts(spec.name)
            row = {
                "concept": spec.name,
                "label": spec.label,
                "group": spec.group,
                "stranded": spec.stranded,
                "elements": parts[names.ELEMENT].nunique(),
                "intervals": len(parts),
            }
            for strand in ("+", "-"):
                row[f"bp_{'plus' if strand == '+' else 'minus'}"] = int(
                    sum(
                        self.mask(contig, strand, concepts=[spec.name]).sum()
                        for contig in self.lengths
                    )
                )
            rows.append(row)
        return pd.DataFrame(rows)

    # -- per-position masks -------------------------------------------------------------
    def mask(
        self,
        contig: str,
        strand: str,
        start: int = 0,
        end: int | None = None,
        concepts: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Which positions of ``contig[start:end]`` belong to each concept on ``strand``.

        Stranded concepts use their ``strand`` elements; unstranded ones count on
        both strands.  Returns a bool array ``(n_concepts, end - start)``.

        Examples
        --------
        >>> tracks.mask("NC_000913.3", "+", 0, 1000, ["cds"]).sum()  # doctest: +SKIP
        np.int64(809)
        """
        end = self.lengths[contig] if end is None else end
        concepts = self.concepts if concepts is None else list(concepts)
        for concept in concepts:
            self.spec(concept)  # KeyError naming the valid concepts
        out = np.zeros((len(concepts), end - start), dtype=bool)
        table = self._by_contig.get(contig)
        if table is None:
            return out
        hit = (
            ((table[names.STRAND] == strand) | (table[names.STRAND] == names.UNSTRANDED))
            & (table[names.START] < end)
            & (table[names.END] > start)
        )
        table = table[hit]
        codes = pd.Categorical(table[names.CONCEPT], categories=concepts).codes
        for row, sub in zip(*_split_by(codes, table), strict=True):
            if row >= 0:
                out[row] = _cover(sub, start, end)
        return out

    def element_ids(
        self, concept: str, contig: str, strand: str, start: int = 0, end: int | None = None
    ) -> np.ndarray:
        """Element index (into ``elements(concept)``) at each position, -1 where none.

        Where elements of one concept overlap, the part later in (start, end) order wins.
        """
        end = self.lengths[contig] if end is None else end
        parts = self.parts(concept)
        # elements() lists elements in order of first appearance among the parts
        order = pd.unique(parts[names.ELEMENT])
        index = pd.Series(np.arange(len(order)), index=order)
        parts = parts[
            (parts[names.CHROM] == contig)
            & parts[names.STRAND].isin([strand, "."])
            & (parts[names.START] < end)
            & (parts[names.END] > start)
        ]
        out = np.full(end - start, -1, dtype=np.int32)
        for s, e, frame, el in zip(
            parts[names.START],
            parts[names.END],
            parts["Frame"],
            parts[names.ELEMENT].map(index),
            strict=True,
        ):
            lo, hi = max(s, start), min(e, end)
            if frame >= 0:
                lo += (frame - lo) % 3
            out[lo - start : hi - start : 3 if frame >= 0 else 1] = el
        return out

    # -- files ------------------------------------------------------------------------
    def write(self, path: str | Path) -> Path:
        """Write to HDF5 (format ``concept-tracks`` 0.1.0, see docs/file_formats.md), atomically."""
        path = Path(path)
        contigs = list(self.lengths)
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
            h5.attrs[names.ENCODING_TYPE] = ENCODING_TYPE
            h5.attrs[names.ENCODING_VERSION] = ENCODING_VERSION
            h5.attrs.update(
                {
                    "genome_checksum": self.genome_checksum,
                    "catalog": self.catalog,
                    "catalog_sha256": self.catalog_sha256,
                    "genointerp_version": __version__,
                }
            )
            h5["contigs/names"] = np.array(contigs, dtype=h5py.string_dtype())
            h5["contigs/lengths"] = np.array([self.lengths[c] for c in contigs], dtype=np.int64)
            for spec in self.specs:
                _write_concept(
                    h5.create_group(f"concepts/{spec.name}"), spec, self.parts(spec.name), contigs
                )
        return path

    @classmethod
    def read(cls, path: str | Path) -> ConceptTracks:
        """Read tracks written by :meth:`write`."""
        with _open(path) as h5:
            kind = h5.attrs.get(names.ENCODING_TYPE)
            version = h5.attrs.get(names.ENCODING_VERSION)
            if kind != ENCODING_TYPE or version != ENCODING_VERSION:
                raise StoreVersionError(
                    f"{path}: encoding {kind!r} version {version!r}, expected {ENCODING_TYPE!r} "
                    f"{ENCODING_VERSION}. Fix: rebuild with `genointerp concepts build`"
                )
            contigs = [c.decode() if isinstance(c, bytes) else c for c in h5["contigs/names"][:]]
            lengths = dict(zip(contigs, h5["contigs/lengths"][:].tolist(), strict=True))
            specs, tables = [], []
            order = h5["concepts"].attrs.get("order", []) if "concepts" in h5 else []
            for name in order:
                spec, table = _read_concept(h5[f"concepts/{name}"], name, contigs)
                specs.append(spec)
                tables.append(table)
            attrs = dict(h5.attrs)
        intervals = pd.concat(tables, ignore_index=True) if tables else _empty()
        return cls(
            specs,
            intervals,
            lengths,
            genome_checksum=attrs["genome_checksum"],
            catalog=attrs["catalog"],
            catalog_sha256=attrs["catalog_sha256"],
        )

    def to_bed(
        self, folder: str | Path, concepts: Sequence[str] | None = None, *, header: bool = False
    ) -> list[Path]:
        """One BED file per concept (BED9, BED12 for codon positions); see
        :func:`genointerp.export.concept_beds`, which writes them."""
        from ..export import concept_beds  # export sits above concepts: import on use

        return concept_beds(self, folder, concepts, header=header)


def _split_by(codes: np.ndarray, table: pd.DataFrame):
    if len(codes) == 0:
        return [], []
    order = np.argsort(codes, kind="stable")
    codes_sorted = codes[order]
    keys, first = np.unique(codes_sorted, return_index=True)
    groups = np.split(order, first[1:])
    return keys, [table.iloc[g] for g in groups]


def _cover(parts: pd.DataFrame, start: int, end: int) -> np.ndarray:
    """Positions of ``[start, end)`` covered by the parts (periodic ones every third nt)."""
    n = end - start
    s = np.clip(parts[names.START].to_numpy() - start, 0, n)
    e = np.clip(parts[names.END].to_numpy() - start, 0, n)
    frame = parts["Frame"].to_numpy()
    covered = np.zeros(n, dtype=bool)
    for f in (-1, 0, 1, 2):
        sel = frame == f
        if not sel.any():
            continue
        diff = np.zeros(n + 1, dtype=np.int32)
        np.add.at(diff, s[sel], 1)
        np.add.at(diff, e[sel], -1)
        hit = np.cumsum(diff[:-1]) > 0
        if f >= 0:
            hit &= (np.arange(start, end) % 3) == f
        covered |= hit
    return covered


def _write_concept(
    group: h5py.Group, spec: ConceptSpec, parts: pd.DataFrame, contigs: list[str]
) -> None:
    parent = group.parent
    parent.attrs["order"] = [*parent.attrs.get("order", []), spec.name]
    group.attrs["spec"] = json.dumps(asdict(spec))
    element_names, element_codes = np.unique(
        parts[names.ELEMENT].to_numpy(dtype=str), return_inverse=True
    )
    group["contig"] = pd.Categorical(parts[names.CHROM], categories=contigs).codes.astype(np.int32)
    group["start"] = parts[names.START].to_numpy(dtype=np.int64)
    group["end"] = parts[names.END].to_numpy(dtype=np.int64)
    group["strand"] = parts[names.STRAND].map(_STRAND_CODE).to_numpy(dtype=np.int8)
    group["frame"] = parts["Frame"].to_numpy(dtype=np.int8)
    group["element"] = element_codes.astype(np.int32)
    group["element_names"] = np.array(element_names, dtype=h5py.string_dtype())


def _read_concept(group: h5py.Group, name: str, contigs: list[str]):
    raw = json.loads(group.attrs["spec"])
    spec = from_dict(ConceptSpec, raw, group.file.filename, f"concept {name}")
    strands = {v: k for k, v in _STRAND_CODE.items()}
    element_names = group["element_names"].asstr()[:]
    table = pd.DataFrame(
        {
            names.CONCEPT: name,
            names.CHROM: np.array(contigs, dtype=object)[group["contig"][:]],
            names.START: group["start"][:],
            names.END: group["end"][:],
            names.STRAND: [strands[int(s)] for s in group["strand"][:]],
            names.ELEMENT: element_names[group["element"][:]] if len(element_names) else [],
            "Frame": group["frame"][:],
        }
    )
    return spec, table


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=[names.CONCEPT, *PART_COLUMNS[:-1]])


def _open(path: str | Path) -> h5py.File:
    """Open a tracks file; errors name the file, what it looks like and the fix."""
    fix = "give the tracks file 'genointerp concepts build' wrote"
    if not Path(path).is_file():
        raise StoreVersionError(f"{path}: no such concept-tracks file. Fix: {fix}")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise StoreVersionError(unreadable_hdf5(path, err, "a concept-tracks file", fix)) from err
