"""GFF3 reader: features to an annotation table with 0-based half-open coordinates."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote

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

_STRANDS = {"+": "+", "-": "-", ".": ".", "?": "."}
_PHASES = {"0": 0, "1": 1, "2": 2, ".": -1}


def read_gff3_table(
    path: str | Path,
    genome: Genome | None = None,
    *,
    keep_sources: Iterable[str] | None = None,
    unknown_contigs: UnknownContigs = "error",
) -> pd.DataFrame:
    """Parse a GFF3 file into an annotation table (see :func:`read_gff3`)."""
    keep = set(keep_sources) if keep_sources is not None else None
    checker = ContigChecker(path, genome, unknown_contigs)
    core, attributes = empty_core(), []
    file_name = Path(path).name
    n_lines = 0
    for lineno, raw in iter_lines(path, AnnotationFormatError, "GFF3"):
        if raw.startswith(b"#"):
            if raw.strip() == b"##FASTA":
                break
            continue
        if not raw.strip():
            continue
        line = decode_line(raw, path, lineno, AnnotationFormatError, "GFF3")
        n_lines += 1
        fields = _split(line, path, lineno)
        if keep is not None and fields[1] not in keep:
            continue
        contig = checker.contig(unquote(fields[0]), line=lineno)
        if contig is None:
            continue
        start, end = _coordinates(fields, path, lineno)
        checker.check_bounds(contig, start, end, line=lineno, one_based=True)
        attrs = _attributes(fields[8], path, lineno)
        parents = attrs.pop("Parent", "").split(",") if "Parent" in attrs else [""]
        feature_id = attrs.pop("ID", f"{file_name}:{lineno}")
        name = attrs.pop("Name", "")
        for parent in parents:
            _append(
                core, contig, start, end, fields, path, lineno, feature_id, name, parent, file_name
            )
            attributes.append(attrs)
    if n_lines == 0:
        raise AnnotationFormatError(
            path, "holds no GFF3 feature lines", "give a GFF3 file with tab-separated feature lines"
        )
    return build_table(core, attributes)


def _split(line: str, path, lineno: int) -> list[str]:
    fields = line.split("\t")
    if len(fields) == 9:
        return fields
    if len(fields) < 9 and len(line.split()) >= 9:
        raise AnnotationFormatError(
            path,
            "columns are separated by spaces, GFF3 needs tabs",
            "separate the 9 columns with tab characters",
            line=lineno,
        )
    raise AnnotationFormatError(
        path,
        f"has {len(fields)} tab-separated columns, GFF3 needs 9",
        "write seqid, source, type, start, end, score, strand, phase, attributes",
        line=lineno,
    )


def _coordinates(fields: list[str], path, lineno: int) -> tuple[int, int]:
    try:
        start, end = int(fields[3]), int(fields[4])
    except ValueError:
        raise AnnotationFormatError(
            path,
            f"start {fields[3]!r} or end {fields[4]!r} is not an integer",
            "write 1-based integer coordinates in columns 4 and 5",
            line=lineno,
        ) from None
    if start < 1:
        raise AnnotationFormatError(
            path,
            f"start is {start}, but GFF3 coordinates are 1-based",
            "the first base is 1; if the file is 0-based (like BED), add 1 to each start",
            line=lineno,
        )
    if end < start:
        raise AnnotationFormatError(
            path,
            f"end {end} is before start {start}",
            "write start <= end; give the strand in column 7 instead of swapping them",
            line=lineno,
        )
    return start - 1, end


def _attributes(text: str, path, lineno: int) -> dict[str, str]:
    attrs: dict[str, str] = {}
    if text.strip() in ("", "."):
        return attrs
    for item in text.strip().strip(";").split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise AnnotationFormatError(
                path,
                f"attribute {item.strip()!r} has no '=' (GTF-style attributes?)",
                "write key=value pairs separated by ';' (GFF3); convert GTF with a GTF-to-GFF3 "
                "tool",
                line=lineno,
            )
        attrs[unquote(key.strip())] = unquote(value.strip())
    return attrs


def _append(core, contig, start, end, fields, path, lineno, feature_id, name, parent, file_name):
    strand = _STRANDS.get(fields[6])
    if strand is None:
        raise AnnotationFormatError(
            path,
            f"strand {fields[6]!r} is not one of + - . ?",
            "write '+', '-' or '.' in column 7",
            line=lineno,
        )
    phase = _PHASES.get(fields[7])
    if phase is None:
        raise AnnotationFormatError(
            path,
            f"phase {fields[7]!r} is not one of 0 1 2 .",
            "write 0, 1, 2 or '.' in column 8",
            line=lineno,
        )
    score = fields[5]
    append_row(
        core,
        AnnotationRow(
            chrom=contig,
            start=start,
            end=end,
            strand=strand,
            feature=fields[2],
            source=fields[1],
            score=float("nan") if score == "." else _score(score, path, lineno),
            phase=phase,
            id=feature_id,
            name=name,
            parent=parent,
            file=file_name,
            line=lineno,
        ),
    )


def _score(text: str, path, lineno: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise AnnotationFormatError(
            path,
            f"score {text!r} is not a number",
            "write a number or '.' in column 6",
            line=lineno,
        ) from None
