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

    rows = _InOrder(intervals, chrom_sizes, path, overlap=False)
    with atomic_path(path, suffix=".bw") as tmp:
        pybigtools.open(str(tmp), "w").write(dict(chrom_sizes), iter(rows))
        rows.check(tmp)
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

    checked = _InOrder(rows, chrom_sizes, path, overlap=True)
    with atomic_path(path, suffix=".bb") as tmp:
        pybigtools.open(str(tmp), "w").write(
            dict(chrom_sizes), iter(checked), autosql=autosql(columns, description=description)
        )
        checked.check(tmp)
    return Path(path)


class _InOrder:
    """The rows for pybigtools, checked on the way: a contig's rows together, starts in
    order, no overlaps (bigWig), no empty interval, no end past the contig.  pybigtools
    swallows errors raised while it iterates and leaves an unreadable file, so the first
    problem is kept here and :meth:`check` raises it after the write."""

    def __init__(self, rows: Iterable[tuple], sizes: Mapping[str, int], path, overlap: bool):
        self.rows, self.sizes, self.path, self.overlap = rows, sizes, path, overlap
        self.error: str | None = None

    def __iter__(self):
        seen: set[str] = set()
        chrom, last_start, last_end = None, -1, 0
        for row in self.rows:
            name, start, end = row[0], row[1], row[2]
            if name != chrom:
                if name in seen or name not in self.sizes:
                    why = "apart from its other rows" if name in seen else "not in chrom.sizes"
                    self.error = f"row {row[:3]}: contig {why}"
                    return
                seen.add(name)
                chrom, last_start, last_end = name, -1, 0
            if not 0 <= start < end <= self.sizes[name]:
                self.error = f"row {row[:3]} is empty or past {name}'s end"
                return
            if start < last_start or (not self.overlap and start < last_end):
                self.error = f"row {row[:3]} is out of order or overlaps"
                return
            last_start, last_end = start, end
            yield row

    def check(self, written: Path) -> None:
        """Raise the first problem seen, or when the written file does not read back."""
        import pybigtools

        if self.error is None:
            try:
                with pybigtools.open(str(written)) as handle:
                    handle.chroms()
                return
            except Exception as err:  # any reader error: the file must not be kept
                self.error = f"the written file does not read back ({err})"
        raise GenointerpError(
            f"{self.path}: {self.error}. This is a bug in genointerp's export: please "
            "report it with the command you ran"
        )


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
