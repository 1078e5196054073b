"""Public readers: each returns a :class:`pyranges.PyRanges` with 0-based half-open intervals."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyranges as pr

from .._filekind import wrong_kind
from .._textio import iter_lines
from ..errors import AnnotationFormatError
from ._bed import read_bed_table
from ._genbank import read_genbank_table
from ._genome import Genome
from ._gff3 import read_gff3_table
from ._table import UnknownContigs, to_pyranges


def read_fasta(path: str | Path, **kwargs) -> Genome:
    """Open a FASTA genome (plain or gzip) for random access; see :meth:`Genome.open`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> fa = pathlib.Path(tempfile.mkdtemp()) / "toy.fa"
    >>> _ = fa.write_text(">chrA demo\\nACGTAC\\nGT\\n")
    >>> read_fasta(fa, cache_dir=fa.parent / "cache").fetch("chrA", 4, 8)
    'ACGT'
    """
    return Genome.open(path, format="fasta", **kwargs)


def read_gff3(
    path: str | Path,
    genome: Genome | None = None,
    *,
    keep_sources: Iterable[str] | None = None,
    unknown_contigs: UnknownContigs = "error",
) -> pr.PyRanges:
    """Read GFF3 features (stops at a ``##FASTA`` section).

    Coordinates become 0-based half-open.  A feature with several parents
    (``Parent=a,b``) gives one row per parent; a feature on several lines
    (discontinuous, same ``ID``) gives one row per line.  Attributes become
    columns (``gene``, ``product`` ...); ``ID``, ``Name`` and ``Parent`` are core
    columns, and features without an ``ID`` get ``<file>:<line>``.

    Parameters
    ----------
    genome
        When given, contig names are resolved through its aliases and every
        interval is checked against its contig's length.
    keep_sources
        Keep only lines whose column 2 is one of these (e.g. ``["TAIR10"]``).
    unknown_contigs
        ``"error"`` (default) or ``"drop"`` lines on contigs the genome lacks.
    """
    return to_pyranges(
        read_gff3_table(path, genome, keep_sources=keep_sources, unknown_contigs=unknown_contigs)
    )


def read_bed(
    path: str | Path,
    genome: Genome | None = None,
    *,
    feature: str = "bed",
    unknown_contigs: UnknownContigs = "error",
) -> pr.PyRanges:
    """Read a BED file (3-12 columns) as features of type ``feature``."""
    return to_pyranges(
        read_bed_table(path, genome, feature=feature, unknown_contigs=unknown_contigs)
    )


def read_genbank(
    path: str | Path, genome: Genome | None = None, *, unknown_contigs: UnknownContigs = "error"
) -> pr.PyRanges:
    """Read the features of a GenBank flat file (the sequence: ``Genome.open(path)``)."""
    return to_pyranges(read_genbank_table(path, genome, unknown_contigs=unknown_contigs))


def read_annotations(
    paths: str | Path | Iterable[str | Path],
    genome: Genome | None = None,
    *,
    keep_sources: Iterable[str] | None = None,
    unknown_contigs: UnknownContigs = "error",
) -> pr.PyRanges:
    """Read and concatenate annotation files, choosing the reader from each file's content.

    GFF3 (``##gff-version``), GenBank (``LOCUS``) and BED (anything else) are recognised.
    """
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    tables = [
        annotation_table(p, genome, keep_sources=keep_sources, unknown_contigs=unknown_contigs)
        for p in paths
    ]
    return to_pyranges(pd.concat(tables, ignore_index=True) if tables else pd.DataFrame())


def annotation_table(
    path: str | Path,
    genome: Genome | None = None,
    *,
    format: str | None = None,
    keep_sources: Iterable[str] | None = None,
    unknown_contigs: UnknownContigs = "error",
) -> pd.DataFrame:
    """One annotation file as a DataFrame (the rows :func:`read_annotations` wraps).

    ``format`` is ``"gff3"``, ``"genbank"`` or ``"bed"``; sniffed from the content when None.
    """
    kind = format or _sniff_annotation(path)
    if kind == "gff3":
        return read_gff3_table(
            path, genome, keep_sources=keep_sources, unknown_contigs=unknown_contigs
        )
    if kind == "genbank":
        return read_genbank_table(path, genome, unknown_contigs=unknown_contigs)
    return read_bed_table(path, genome, unknown_contigs=unknown_contigs)


def _sniff_annotation(path: str | Path) -> str:
    other = wrong_kind(path, "gff3", "genbank", "bed")
    if other and Path(path).is_file():
        raise AnnotationFormatError(
            path, f"{other}, not annotations", "give GFF3, GenBank or BED annotation files"
        )
    for _, raw in iter_lines(path, AnnotationFormatError, "annotation"):
        if raw.startswith(b"##gff-version"):
            return "gff3"
        if raw.startswith(b"LOCUS"):
            return "genbank"
        if raw.strip() and not raw.startswith(b"#"):
            fields = raw.split(b"\t")
            is_gff = len(fields) >= 9 and fields[3].isdigit() and fields[4].isdigit()
            return "gff3" if is_gff else "bed"
    return "bed"
