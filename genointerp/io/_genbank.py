"""GenBank input through Biopython: sequences for the packer, features for annotation tables."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
from Bio import SeqIO
from Bio.SeqRecord import SeqRecord

from .._textio import open_binary
from ..errors import AnnotationFormatError, GenomeFormatError, InputFormatError
from ._pack import ContigInfo, SequencePacker

_CHUNK = 1 << 20


def iter_genbank(
    path: str | Path, error: type[InputFormatError] = GenomeFormatError
) -> Iterator[SeqRecord]:
    """Yield Biopython records, turning parser failures into one-line errors."""
    _check_complete(path, error)
    handle = io.TextIOWrapper(open_binary(path, error, "GenBank"), encoding="utf-8")
    n = 0
    try:
        with handle:
            for n, record in enumerate(SeqIO.parse(handle, "genbank"), start=1):  # noqa: B007
                yield record
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise error(
            path,
            f"compressed data is truncated or corrupt after record {n}",
            "download or copy the file again; `gzip -t FILE` checks it",
        ) from exc
    except UnicodeDecodeError as exc:
        raise error(path, "is not text (binary data?)", "give a GenBank flat file") from exc
    except ValueError as exc:
        raise error(
            path,
            f"malformed GenBank record after record {n}: {exc}",
            "check the file is a complete GenBank flat file (each record ends with '//')",
            record=f"#{n + 1}",
        ) from exc
    if n == 0:
        raise error(
            path, "holds no GenBank records", "give a GenBank flat file starting with LOCUS"
        )


def _check_complete(path: str | Path, error: type[InputFormatError]) -> None:
    """Biopython accepts a file cut mid-record; insist that the last record ends with '//'."""
    with open_binary(path, error, "GenBank") as handle:
        tail = b""
        try:
            while block := handle.read(_CHUNK):
                tail = (tail + block)[-256:]
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise error(
                path,
                "compressed data is truncated or corrupt",
                "download or copy the file again; `gzip -t FILE` checks it",
            ) from exc
    if not tail.rstrip().endswith(b"//"):
        raise error(
            path,
            "is truncated: the last record does not end with '//'",
            "download or copy the complete file again",
        )


def pack_genbank(path: str | Path, out: BinaryIO) -> tuple[list[ContigInfo], dict[str, np.ndarray]]:
    """Validate and pack every record's sequence."""
    packer = SequencePacker(out, path)
    n = 0
    for n, record in enumerate(iter_genbank(path), start=1):
        circular = record.annotations.get("topology") == "circular"
        packer.start(record.id, record.description, line=n, circular=circular)
        try:
            sequence = bytes(record.seq)
        except Exception as exc:  # Bio.Seq.UndefinedSequenceError: no ORIGIN section
            raise GenomeFormatError(
                path,
                "record has no sequence (no ORIGIN section)",
                "use a GenBank file with sequence ('gbwithparts' from NCBI)",
                record=record.id,
            ) from exc
        for i in range(0, len(sequence), _CHUNK):
            packer.add(sequence[i : i + _CHUNK], line=n)
    return packer.finish(line=n), packer.softmask


def read_genbank_table(
    path: str | Path, genome=None, *, unknown_contigs: str = "error"
) -> pd.DataFrame:
    """Features of every record as an annotation table; compound locations give one row per part.

    Rows of one feature share its ``ID`` (``<type>-<locus_tag>``, or ``<type>-<record>:<n>``
    when the feature has no locus tag); qualifiers become columns (multi-valued joined by ',').
    """
    from ._table import AnnotationRow, ContigChecker, append_row, build_table, empty_core

    checker = ContigChecker(path, genome, unknown_contigs)
    core, attributes = empty_core(), []
    file_name = Path(path).name
    for n_record, record in enumerate(iter_genbank(path, AnnotationFormatError), start=1):
        contig = checker.contig(record.id, record=record.id)
        if contig is None:
            continue
        for n_feature, feature in enumerate(record.features):
            if feature.type == "source":
                continue
            qualifiers = {k: ",".join(map(str, v)) for k, v in feature.qualifiers.items()}
            tag = qualifiers.get("locus_tag")
            feature_id = (
                f"{feature.type}-{tag}" if tag else f"{feature.type}-{record.id}:{n_feature}"
            )
            phase = int(qualifiers.get("codon_start", "1")) - 1 if feature.type == "CDS" else -1
            for part in feature.location.parts:
                start, end = int(part.start), int(part.end)
                checker.check_bounds(contig, start, end, record=record.id)
                strand = {1: "+", -1: "-"}.get(part.strand, ".")
                append_row(
                    core,
                    AnnotationRow(
                        chrom=contig,
                        start=start,
                        end=end,
                        strand=strand,
                        feature=feature.type,
                        source=file_name,
                        score=float("nan"),
                        phase=phase,
                        id=feature_id,
                        name=qualifiers.get("gene", ""),
                        parent="",
                        file=file_name,
                        line=n_record,
                    ),
                )
                attributes.append(qualifiers)
    return build_table(core, attributes)
