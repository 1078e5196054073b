"""The GFF3 files annotators write, and reading them back as annotation tables."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from .. import names
from .._atomic import atomic_open
from ..io import Genome, annotation_table

_SEQID_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:^*$@!+_?-|"
_VALUE_SAFE = " ()[]{}<>/'\"#~`^*$@!+_?-|.:" + _SEQID_SAFE


@dataclass
class Row:
    """One feature an annotator found: 0-based half-open, like every genointerp table."""

    contig: str
    start: int
    end: int
    strand: str
    feature: str
    id: str
    score: float | None = None
    phase: int | None = None
    name: str = ""
    parent: str = ""
    attributes: dict[str, str] = field(default_factory=dict)

    def line(self, source: str) -> str:
        attrs = {"ID": self.id, "Name": self.name, "Parent": self.parent, **self.attributes}
        text = ";".join(f"{k}={_escape(str(v), _VALUE_SAFE)}" for k, v in attrs.items() if v != "")
        score = "." if self.score is None else f"{self.score:.6g}"
        phase = "." if self.phase is None else str(self.phase)
        seqid = _escape(self.contig, _SEQID_SAFE)
        cols = (seqid, source, self.feature, self.start + 1, self.end, score, self.strand, phase)
        return "\t".join(map(str, cols)) + "\t" + text + "\n"


def _escape(text: str, safe: str) -> str:
    return quote(text, safe=safe)


def write_gff3(
    path: Path,
    rows: Iterable[Row],
    genome: Genome,
    *,
    annotator: str,
    source: str,
    header: Mapping[str, object],
) -> None:
    """Write rows (sorted by contig, start, longest first) atomically, behind a header.

    The header names the annotator, the tool and its version, and the settings as
    JSON with sorted keys, so the file says how it was made and is byte-identical
    for the same genome and settings.
    """
    order = {name: i for i, name in enumerate(genome.names)}
    ordered = sorted(rows, key=lambda r: (order[r.contig], r.start, -r.end, r.feature, r.id))
    with atomic_open(path) as out:
        out.write("##gff-version 3\n")
        for name, length in genome.lengths.items():
            out.write(f"##sequence-region {_escape(name, _SEQID_SAFE)} 1 {length}\n")
        out.write(f"# annotator: {annotator}\n")
        for key, value in header.items():
            out.write(f"# {key}: {json.dumps(value, sort_keys=True)}\n")
        for row in ordered:
            out.write(row.line(source))


def read_gff3(path: Path, genome: Genome, annotator: str) -> pd.DataFrame:
    """An annotator's GFF3 file as an annotation table, ``Annotator`` set on every row."""
    with open(path) as handle:
        has_rows = any(line.strip() and not line.startswith("#") for line in handle)
    table = annotation_table(path, genome, format="gff3") if has_rows else empty_table()
    table[names.ANNOTATOR] = annotator
    return table


def empty_table() -> pd.DataFrame:
    """An annotation table with no rows and the standard columns and types."""
    table = pd.DataFrame({col: pd.Series(dtype=object) for col in names.ANNOTATION_COLUMNS})
    types = {names.START: np.int64, names.END: np.int64, names.PHASE: np.int8}
    types |= {names.LINE: np.int64, names.SCORE: np.float64}
    return table.astype(types)
