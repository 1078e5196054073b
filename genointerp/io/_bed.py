"""BED reader (3 or more columns, the first 6 used; ``track``/``browser``/``#`` lines skipped)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .._textio import decode_line, iter_lines
from ..errors import AnnotationFormatError
from ._genome import Genome
from ._table import (
    AnnotationRow,
    ContigChecker,
    UnknownContigs,
    append_row,
    build_table,
    empty_core,
)


def read_bed_table(
    path: str | Path,
    genome: Genome | None = None,
    *,
    feature: str = "bed",
    unknown_contigs: UnknownContigs = "error",
) -> pd.DataFrame:
    """Parse a BED file into an annotation table (see :func:`read_bed`)."""
    checker = ContigChecker(path, genome, unknown_contigs)
    core, width, first_line = empty_core(), None, 0
    file_name = Path(path).name
    for lineno, raw in iter_lines(path, AnnotationFormatError, "BED"):
        if not raw.strip() or raw.startswith((b"#", b"track", b"browser")):
            continue
        line = decode_line(raw, path, lineno, AnnotationFormatError, "BED")
        fields = line.split("\t") if "\t" in line else line.split()
        if width is None:
            width, first_line = len(fields), lineno
            if width < 3:
                raise AnnotationFormatError(
                    path,
                    f"has {width} column(s), BED needs at least 3",
                    "write chrom, start, end separated by tabs",
                    line=lineno,
                )
        elif len(fields) != width:
            raise AnnotationFormatError(
                path,
                f"has {len(fields)} columns but line {first_line} has {width}",
                "give every line the same number of columns",
                line=lineno,
            )
        contig = checker.contig(fields[0], line=lineno)
        if contig is None:
            continue
        start, end = _coordinates(fields, path, lineno)
        checker.check_bounds(contig, start, end, line=lineno)
        _append(core, fields, contig, start, end, feature, file_name, path, lineno)
    if width is None:
        raise AnnotationFormatError(path, "holds no BED records", "give at least one interval")
    return build_table(core, [])


def _coordinates(fields: list[str], path, lineno: int) -> tuple[int, int]:
    try:
        start, end = int(fields[1]), int(fields[2])
    except ValueError:
        raise AnnotationFormatError(
            path,
            f"start {fields[1]!r} or end {fields[2]!r} is not an integer",
            "write 0-based integer coordinates in columns 2 and 3",
            line=lineno,
        ) from None
    if start < 0 or end < 0:
        raise AnnotationFormatError(
            path,
            f"negative coordinate ({start}, {end})",
            "BED coordinates are 0-based and start at 0",
            line=lineno,
        )
    if end < start:
        raise AnnotationFormatError(
            path,
            f"end {end} is before start {start}",
            "write start <= end (the strand goes in column 6)",
            line=lineno,
        )
    return start, end


def _append(core, fields, contig, start, end, feature, file_name, path, lineno) -> None:
    name = fields[3] if len(fields) > 3 else ""
    strand = fields[5] if len(fields) > 5 else "."
    if strand not in ("+", "-", "."):
        raise AnnotationFormatError(
            path,
            f"strand {strand!r} is not one of + - .",
            "write '+', '-' or '.' in column 6",
            line=lineno,
        )
    score = float("nan")
    if len(fields) > 4 and fields[4] not in (".", ""):
        try:
            score = float(fields[4])
        except ValueError:
            raise AnnotationFormatError(
                path,
                f"score {fields[4]!r} is not a number",
                "write a number in column 5",
                line=lineno,
            ) from None
    append_row(
        core,
        AnnotationRow(
            chrom=contig,
            start=start,
            end=end,
            strand=strand,
            feature=feature,
            source=file_name,
            score=score,
            phase=-1,
            id=name or f"{file_name}:{lineno}",
            name=name,
            parent="",
            file=file_name,
            line=lineno,
        ),
    )
