"""Stream sequence records into a packed one-byte-per-base buffer, validating as we go.

The packed form is what :class:`~genointerp.io.Genome` memory-maps for random
access: upper-case ``A C G T N`` (other IUPAC codes become ``N`` and are
counted), with lower-case (soft-masked) runs kept separately as intervals.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .._textio import looks_binary
from ..errors import GenomeFormatError

_IUPAC_AMBIGUOUS = b"RYSWKMBDHVN"
_VALID = b"ACGT" + _IUPAC_AMBIGUOUS
VALID_BYTES = _VALID + _VALID.lower()
_LOWER = _VALID.lower()
# Letters that occur in protein but not in nucleotide IUPAC codes.
_PROTEIN_ONLY = set(b"EFIJLOPQZXefijlopqzx*")
# Upper-case A C G T, everything else that is valid becomes N.
_NORMALISE = bytes.maketrans(
    b"acgt" + _IUPAC_AMBIGUOUS + _IUPAC_AMBIGUOUS.lower(),
    b"ACGT" + b"N" * (2 * len(_IUPAC_AMBIGUOUS)),
)
_WHITESPACE = b" \t"


@dataclass
class ContigInfo:
    """What the packer learned about one sequence record."""

    name: str
    length: int = 0
    md5: str = ""
    description: str = ""
    n_ambiguous: int = 0  # IUPAC codes other than ACGTN, stored as N
    n_unknown: int = 0  # N in the input
    n_softmasked: int = 0  # lower-case bases
    circular: bool | None = None
    offset: int = 0  # byte offset in the packed buffer


@dataclass
class _Record:
    info: ContigInfo
    header_line: int
    hasher: hashlib._Hash = field(default_factory=hashlib.md5)
    mask_runs: list[list[int]] = field(default_factory=list)


class SequencePacker:
    """Validate and pack records, writing the bases to ``out``.

    Call :meth:`start`, then :meth:`add` for each chunk of sequence, for every
    record; then :meth:`finish`.  Errors name ``source`` and the line.
    """

    def __init__(self, out: BinaryIO, source: str | Path) -> None:
        self.out = out
        self.source = source
        self.contigs: list[ContigInfo] = []
        self.softmask: dict[str, np.ndarray] = {}
        self._seen: dict[str, int] = {}
        self._record: _Record | None = None
        self._offset = 0

    def start(self, name: str, description: str = "", *, line: int, circular=None) -> None:
        self._close_record(line)
        if not name:
            raise GenomeFormatError(
                self.source,
                "header has no sequence name",
                "write '>name' with no space after '>'",
                line=line,
            )
        if name in self._seen:
            raise GenomeFormatError(
                self.source,
                f"duplicate sequence id {name!r} (first at line {self._seen[name]})",
                "give every record a unique id",
                line=line,
                record=name,
            )
        self._seen[name] = line
        info = ContigInfo(name, description=description, circular=circular, offset=self._offset)
        self._record = _Record(info, line)

    def add(self, chunk: bytes, *, line: int) -> None:
        record = self._record
        if record is None:
            if looks_binary(chunk):
                raise GenomeFormatError(
                    self.source,
                    "is binary data, not FASTA text",
                    "give a plain-text or gzip-compressed FASTA file",
                    line=line,
                )
            raise GenomeFormatError(
                self.source,
                "sequence data before the first '>' header line",
                "start the file with a header line such as '>chr1'",
                line=line,
            )
        chunk = chunk.translate(None, _WHITESPACE)
        if not chunk:
            return
        bad = chunk.translate(None, VALID_BYTES)
        if bad:
            self._invalid(bad, chunk, line)
        info = record.info
        n_lower = len(chunk) - len(chunk.translate(None, _LOWER))
        if n_lower:
            self._add_mask_runs(record, chunk, info.length)
            info.n_softmasked += n_lower
        upper = chunk.upper()
        record.hasher.update(upper)
        n_known = sum(upper.count(b) for b in (b"A", b"C", b"G", b"T"))
        n_n = upper.count(b"N")
        info.n_unknown += n_n
        info.n_ambiguous += len(chunk) - n_known - n_n
        self.out.write(chunk.translate(_NORMALISE))
        info.length += len(chunk)
        self._offset += len(chunk)

    def finish(self, *, line: int) -> list[ContigInfo]:
        self._close_record(line)
        if not self.contigs:
            raise GenomeFormatError(
                self.source, "holds no sequence records", "give a file with at least one record"
            )
        return self.contigs

    def _invalid(self, bad: bytes, chunk: bytes, line: int) -> None:
        record = self._record.info.name
        char = chr(bad[0])
        protein = sum(b in _PROTEIN_ONLY for b in chunk)
        if protein >= max(1, len(chunk) // 20) and any(b in _PROTEIN_ONLY for b in bad):
            raise GenomeFormatError(
                self.source,
                f"looks like a protein sequence (letters such as {char!r})",
                "give nucleotide FASTA (A, C, G, T, N and IUPAC codes)",
                line=line,
                record=record,
            )
        raise GenomeFormatError(
            self.source,
            f"non-nucleotide character {char!r} in sequence",
            "use only A, C, G, T, N and IUPAC codes (R Y S W K M B D H V); replace others with N",
            line=line,
            record=record,
        )

    @staticmethod
    def _add_mask_runs(record: _Record, chunk: bytes, offset: int) -> None:
        lower = np.frombuffer(chunk, dtype=np.uint8) >= ord("a")
        edges = np.flatnonzero(np.diff(np.concatenate(([False], lower, [False])).astype(np.int8)))
        runs = record.mask_runs
        for start, end in zip(edges[0::2] + offset, edges[1::2] + offset, strict=True):
            if runs and runs[-1][1] == start:
                runs[-1][1] = int(end)
            else:
                runs.append([int(start), int(end)])

    def _close_record(self, line: int) -> None:
        record, self._record = self._record, None
        if record is None:
            return
        info = record.info
        if info.length == 0:
            raise GenomeFormatError(
                self.source,
                "record has no sequence (empty record)",
                "remove the empty record or add its sequence",
                line=record.header_line,
                record=info.name,
            )
        info.md5 = record.hasher.hexdigest()
        self.contigs.append(info)
        runs = np.asarray(record.mask_runs, dtype=np.int64).reshape(-1, 2)
        self.softmask[info.name] = runs
