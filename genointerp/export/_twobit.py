"""Write UCSC .2bit files (the sequence of an assembly hub).

No maintained Python package writes .2bit: py2bit, twobitreader and pytwobit only read,
UCSC's ``faToTwoBit`` is not a Python or Debian package (conda only), and pybigtools covers
bigWig/bigBed.  The format is small and fixed (UCSC's twoBit.c documents it), so it is
written here, in blocks, and the tests read it back with py2bit.

Layout (little-endian): header ``signature 0x1A412743, version, sequence count, 0``; an index
of ``(name length: 1 byte, name, record offset: 4 bytes, 8 in version 1)``; then per
sequence ``dnaSize, nBlockCount, nBlockStarts[], nBlockSizes[], maskBlockCount,
maskBlockStarts[], maskBlockSizes[], 0, packed bases`` with T=0, C=1, A=2, G=3, four bases
per byte, the first in the high bits; N bases are stored as T and listed as N blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._atomic import atomic_open
from ..errors import GenointerpError

SIGNATURE = 0x1A412743
BLOCK = 1 << 22  # bases packed per step (a multiple of 4)
_CODE = np.zeros(256, dtype=np.uint8)  # ASCII -> 2-bit code; N and anything else -> T (0)
for _base, _code in zip(b"TCAG", range(4), strict=True):
    _CODE[_base] = _code
    _CODE[ord(chr(_base).lower())] = _code


def write_twobit(genome, path: str | Path, names: Mapping[str, str] | None = None) -> Path:
    """Write ``genome``'s contigs to a .2bit file, atomically.

    Parameters
    ----------
    genome
        A :class:`~genointerp.io.Genome` (its soft-masked runs become 2bit mask blocks).
    path
        Output file.
    names
        ``{genome name: name in the file}`` (default: the genome's names).

    Examples
    --------
    >>> g = gi.io.Genome.from_sequences({"chr1": "ACGTNNacgt"})            # doctest: +SKIP
    >>> gi.export.write_twobit(g, "genome.2bit")                             # doctest: +SKIP
    """
    contigs = list(genome.names)
    out_names = [(names or {}).get(c, c).encode() for c in contigs]
    if any(len(n) > 255 for n in out_names):
        raise GenointerpError(
            f"{path}: a contig name is longer than 255 bytes, which .2bit forbids"
        )
    headers = [_record_header(genome, c) for c in contigs]
    sizes = [len(h) + (genome.lengths[c] + 3) // 4 for h, c in zip(headers, contigs, strict=True)]
    index_size = sum(1 + len(n) + 4 for n in out_names)
    version = 0 if 16 + index_size + sum(sizes) < 2**32 else 1
    width = 4 if version == 0 else 8
    offset = 16 + sum(1 + len(n) + width for n in out_names)
    with atomic_open(path, "wb") as out:
        out.write(np.array([SIGNATURE, version, len(contigs), 0], dtype="<u4").tobytes())
        for name, size in zip(out_names, sizes, strict=True):
            out.write(bytes([len(name)]) + name)
            out.write(np.array([offset], dtype="<u4" if version == 0 else "<u8").tobytes())
            offset += size
        for contig, header in zip(contigs, headers, strict=True):
            out.write(header)
            _write_packed(out, genome, contig)
    return Path(path)


def _record_header(genome, contig: str) -> bytes:
    n_blocks = _runs_of_n(genome, contig)
    mask = np.asarray(genome.soft_mask(contig), dtype=np.int64).reshape(-1, 2)
    parts = [
        [genome.lengths[contig], len(n_blocks)],
        n_blocks[:, 0],
        n_blocks[:, 1] - n_blocks[:, 0],
        [len(mask)],
        mask[:, 0],
        mask[:, 1] - mask[:, 0],
        [0],
    ]
    return b"".join(np.asarray(p, dtype="<u4").tobytes() for p in parts)


def _runs_of_n(genome, contig: str) -> np.ndarray:
    """``(n, 2)`` [start, end) runs of N, found block by block and joined across blocks."""
    runs: list[list[int]] = []
    length = genome.lengths[contig]
    for start in range(0, length, BLOCK):
        is_n = genome.codes(contig, start, min(start + BLOCK, length)) == ord("N")
        edges = np.flatnonzero(np.diff(np.concatenate([[0], is_n.view(np.int8), [0]])))
        for s, e in edges.reshape(-1, 2) + start:
            if runs and runs[-1][1] == s:
                runs[-1][1] = int(e)
            else:
                runs.append([int(s), int(e)])
    return np.array(runs, dtype=np.int64).reshape(-1, 2)


def _write_packed(out, genome, contig: str) -> None:
    length = genome.lengths[contig]
    for start in range(0, length, BLOCK):
        codes = _CODE[genome.codes(contig, start, min(start + BLOCK, length))]
        pad = (-len(codes)) % 4
        if pad:
            codes = np.concatenate([codes, np.zeros(pad, np.uint8)])
        quads = codes.reshape(-1, 4)  # (bytes, 4 bases)
        packed = (quads[:, 0] << 6) | (quads[:, 1] << 4) | (quads[:, 2] << 2) | quads[:, 3]
        out.write(packed.astype(np.uint8).tobytes())
