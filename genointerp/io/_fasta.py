"""FASTA input: stream records into the packer."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

from .._textio import iter_lines
from ..errors import GenomeFormatError
from ._pack import ContigInfo, SequencePacker


def pack_fasta(
    path: str | Path, out: BinaryIO, *, after_fasta_directive: bool = False
) -> tuple[list[ContigInfo], dict[str, np.ndarray]]:
    """Validate and pack a FASTA file (or a GFF3 file's ``##FASTA`` section).

    Returns the contigs found and their soft-masked runs.
    """
    packer = SequencePacker(out, path)
    lineno = 0
    in_fasta = not after_fasta_directive
    for lineno, line in iter_lines(path, GenomeFormatError, "FASTA"):
        if not in_fasta:
            in_fasta = line.strip() == b"##FASTA"
            continue
        if line.startswith(b">"):
            header = _decode_header(line, path, lineno)
            name, _, description = header.partition(" ")
            packer.start(name, description.strip(), line=lineno)
        elif line.startswith(b";") or not line.strip():
            continue
        else:
            packer.add(line, line=lineno)
    if not in_fasta:
        raise GenomeFormatError(
            path,
            "it looks like a GFF3 file (annotations) with no ##FASTA section, so it holds no "
            "sequence",
            "give the genome as FASTA or GenBank, and this file as annotations",
        )
    return packer.finish(line=lineno), packer.softmask


def _decode_header(line: bytes, path: str | Path, lineno: int) -> str:
    try:
        return line[1:].decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise GenomeFormatError(
            path, "header line is not text (binary data?)", "give a text FASTA file", line=lineno
        ) from exc
