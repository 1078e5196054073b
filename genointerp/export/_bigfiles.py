"""bigWig and bigBed files, written with pybigtools (a maintained BBI writer, not our own)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from .._atomic import atomic_path
from ..errors import GenointerpError
from ._bed import is_bed12

log = logging.getLogger(__name__)

# autoSql of the standard BED9 and BED12 columns (UCSC's bed.as layout), stored in each bigBed
# so that browsers and readers know what the extra columns mean.
_BED9_FIELDS = (
    ("string", "chrom", "Reference sequence (contig) name"),
    ("uint", "chromStart", "Start position, 0-based"),
    ("uint", "chromEnd", "End position, exclusive"),
    ("string", "name", "Name of the item"),
    ("uint", "score", "Score, 0-1000"),
    ("char[1]", "strand", "+, - or ."),
    ("uint", "thickStart", "Start of the thick part"),
    ("uint", "thickEnd", "End of the thick part"),
    ("uint", "reserved", "itemRgb: r,g,b colour"),
)
_BED12_FIELDS = (
    ("int", "blockCount", "Number of blocks"),
    ("int[blockCount]", "blockSizes", "Comma-separated block sizes"),
    ("int[blockCount]", "chromStarts", "Block starts, relative to chromStart"),
)


def autosql(columns: int, table: str = "bed", description: str = "genointerp track") -> str:
    """The autoSql text of a BED9 (``columns=9``) or BED12 (``columns=12``) bigBed."""
    if columns not in (9, 12):
        raise ValueError(f"autoSql for BED{columns} is not defined; use 9 or 12")
    fields = _BED9_FIELDS + (_BED12_FIELDS if columns == 12 else ())
    body = "\n".join(f'    {kind} {name};  "{text}"' for kind, name, text in fields)
    return f'table {table}\n"{description}"\n(\n{body}\n)\n'


def write_bigwig(
    path: str | Path, chrom_sizes: Mapping[str, int], intervals: Iterable[tuple]
) -> Path:
    """Write ``(chrom, start, end, value)`` intervals (sorted, non-overlapping, non-empty)
    as a bigWig, atomically.  ``chrom_sizes`` is ``{browser name: length}``."""
    import pybigtools

    with atomic_path(path, suffix=".bw") as tmp:
        pybigtools.open(str(tmp), "w").write(dict(chrom_sizes), iter(intervals))
    return Path(path)


def bed_to_bigbed(
    bed: str | Path, chrom_sizes: Mapping[str, int], out: str | Path | None = None
) -> Path | None:
    """Convert a BED9 or BED12 file (sorted by contig then start) to a bigBed.

    Parameters
    ----------
    bed
        The BED file (a ``track`` line, if any, is skipped).
    chrom_sizes
        ``{contig: length}`` with the names the BED uses.
    out
        Output path (default: ``bed`` with the suffix ``.bb``).

    Returns
    -------
    Path or None
        The bigBed, or None when the BED has no rows (a bigBed cannot be empty).

    Examples
    --------
    >>> gi.export.bed_to_bigbed("tracks/concepts/cds.bed", {"chr": 4641652})  # doctest: +SKIP
    PosixPath('tracks/concepts/cds.bb')
    """
    bed = Path(bed)
    out = Path(out) if out is not None else bed.with_suffix(".bb")
    rows = _bed_rows(bed, chrom_sizes)
    first = next(rows, None)
    if first is None:
        log.info("%s has no rows; no bigBed written", bed)
        return None
    columns = 12 if is_bed12(bed) else 9
    return write_bigbed(out, chrom_sizes, itertools.chain([first], rows), columns, bed.stem)


def write_bigbed(
    path: str | Path,
    chrom_sizes: Mapping[str, int],
    rows: Iterable[tuple],
    columns: int = 9,
    description: str = "genointerp track",
) -> Path:
    """Write ``(chrom, start, end, rest)`` rows (``rest``: the other BED columns,
    tab-separated; sorted by contig and start; at least one) as a bigBed, atomically."""
    import pybigtools

    with atomic_path(path, suffix=".bb") as tmp:
        pybigtools.open(str(tmp), "w").write(
            dict(chrom_sizes), iter(rows), autosql=autosql(columns, description=description)
        )
    return Path(path)


def _bed_rows(bed: Path, chrom_sizes: Mapping[str, int]):
    with open(bed) as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith(("track", "browser", "#")):
                continue
            chrom, start, end, rest = line.rstrip("\n").split("\t", 3)
            if chrom not in chrom_sizes:
                raise GenointerpError(
                    f"{bed}, line {lineno}: contig {chrom!r} is not in the chrom sizes "
                    f"({', '.join(list(chrom_sizes)[:5])}). Fix: export with the same "
                    "contig_names for every file"
                )
            yield chrom, int(start), int(end), rest
