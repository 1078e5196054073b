"""Shared pieces of the annotation readers: contig checks and the table they build."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import pyranges as pr

from .. import names
from ..errors import AnnotationFormatError, ContigNameError
from ._genome import Genome

UnknownContigs = Literal["error", "drop"]


class ContigChecker:
    """Resolve contig names through the genome's aliases and check intervals fit the contig.

    With no genome, names are kept as they are and only ``start <= end`` is checked.
    """

    def __init__(
        self, path: str | Path, genome: Genome | None, unknown_contigs: UnknownContigs = "error"
    ) -> None:
        self.path = path
        self.genome = genome
        self.unknown_contigs = unknown_contigs
        self._resolved: dict[str, str | None] = {}

    def contig(
        self, name: str, *, line: int | None = None, record: str | None = None
    ) -> str | None:
        """The genome's name for ``name``; None when unknown and ``unknown_contigs='drop'``."""
        if self.genome is None:
            return name
        if name not in self._resolved:
            try:
                self._resolved[name] = self.genome.resolve(name)
            except ContigNameError as exc:
                if self.unknown_contigs == "drop":
                    self._resolved[name] = None
                else:
                    raise AnnotationFormatError(
                        self.path,
                        exc.problem,
                        exc.fix + "; or pass unknown_contigs='drop'",
                        line=line,
                        record=record,
                    ) from None
        return self._resolved[name]

    def check_bounds(
        self,
        contig: str,
        start: int,
        end: int,
        *,
        line: int | None = None,
        record: str | None = None,
        one_based: bool = False,
    ) -> None:
        """Raise when ``[start, end)`` runs past the contig's end (0-based half-open input)."""
        if self.genome is None:
            return
        length = self.genome.lengths[contig]
        if end > length:
            shown = f"{start + 1}..{end}" if one_based else f"{start}-{end}"
            raise AnnotationFormatError(
                self.path,
                f"interval {contig}:{shown} ends past the contig's end ({length:,} bp)",
                "check that the annotation belongs to this genome assembly",
                line=line,
                record=record,
            )


def build_table(core: Mapping[str, list], attributes: list[dict[str, str]]) -> pd.DataFrame:
    """Assemble the annotation table: core columns first, then one column per attribute key."""
    table = pd.DataFrame({col: core[col] for col in names.ANNOTATION_COLUMNS})
    table[names.START] = table[names.START].astype(np.int64)
    table[names.END] = table[names.END].astype(np.int64)
    table[names.PHASE] = table[names.PHASE].astype(np.int8)
    table[names.LINE] = table[names.LINE].astype(np.int64)
    if attributes:
        extra = pd.DataFrame.from_records(attributes, index=table.index)
        extra = extra.rename(columns={c: f"attr_{c}" for c in extra.columns if c in table.columns})
        table = pd.concat([table, extra], axis=1)
    return table


def to_pyranges(table: pd.DataFrame) -> pr.PyRanges:
    """Wrap an annotation table; an empty one keeps its columns."""
    return pr.PyRanges(table.reset_index(drop=True))


class AnnotationRow(NamedTuple):
    """One row's core columns, in the order of ``names.ANNOTATION_COLUMNS``."""

    chrom: str
    start: int
    end: int
    strand: str
    feature: str
    source: str
    score: float
    phase: int
    id: str
    name: str
    parent: str
    file: str
    line: int


def empty_core() -> dict[str, list]:
    return {col: [] for col in names.ANNOTATION_COLUMNS}


def append_row(core: dict[str, list], row: AnnotationRow) -> None:
    """Add one row to the column lists made by :func:`empty_core`."""
    for col, value in zip(names.ANNOTATION_COLUMNS, row, strict=True):
        core[col].append(value)
