"""The genome a browser shows: FASTA + .fai, .2bit, chrom.sizes and chromAlias.txt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._atomic import atomic_open
from ._contigs import ContigNames
from ._twobit import write_twobit

LINE = 60  # bases per FASTA line
_LOWER = np.uint8(32)  # ASCII upper -> lower


@dataclass
class GenomeFiles:
    """Paths of the genome files of an export (``twobit`` is None when not written)."""

    fasta: Path
    fai: Path
    chrom_sizes: Path
    chrom_alias: Path
    twobit: Path | None = None


def genome_files(
    genome, folder: str | Path, names: ContigNames | None = None, *, twobit: bool = True
) -> GenomeFiles:
    """Write ``genome.fa`` (+ ``.fai``), ``genome.2bit``, ``chrom.sizes`` and
    ``chromAlias.txt`` into ``folder``, with the browser names of ``names``.

    Soft-masked runs of the genome stay lower-case in the FASTA and become mask blocks in
    the .2bit.

    Examples
    --------
    >>> files = gi.export.genome_files(genome, "tracks/genome")         # doctest: +SKIP
    >>> files.fasta.name, files.twobit.name
    ('genome.fa', 'genome.2bit')
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = names or ContigNames.choose(genome.lengths)
    fasta, fai = write_fasta(genome, folder / "genome.fa", names.names)
    return GenomeFiles(
        fasta=fasta,
        fai=fai,
        chrom_sizes=names.write_chrom_sizes(folder / "chrom.sizes"),
        chrom_alias=names.write_chrom_alias(folder / "chromAlias.txt"),
        twobit=write_twobit(genome, folder / "genome.2bit", names.names) if twobit else None,
    )


def write_fasta(genome, path: str | Path, names: dict[str, str] | None = None):
    """Write ``genome`` as FASTA (60 bases a line) and its samtools ``.fai`` index.

    The index has the five samtools columns: name, length, byte offset of the first base,
    bases per line, bytes per line.  Returns ``(fasta, fai)``.
    """
    path = Path(path)
    rows = []
    offset = 0
    with atomic_open(path, "wb") as out:
        for contig in genome.names:
            name = (names or {}).get(contig, contig)
            head = f">{name}\n".encode()
            out.write(head)
            offset += len(head)
            length = genome.lengths[contig]
            rows.append(f"{name}\t{length}\t{offset}\t{LINE}\t{LINE + 1}\n")
            offset += _write_sequence(out, genome, contig)
    fai = path.with_name(path.name + ".fai")
    with atomic_open(fai) as out:
        out.writelines(rows)
    return path, fai


def _write_sequence(out, genome, contig: str) -> int:
    """Write the lines of one contig; returns the bytes written."""
    length = genome.lengths[contig]
    mask = np.asarray(genome.soft_mask(contig), dtype=np.int64).reshape(-1, 2)
    step = LINE * 65536
    written = 0
    for start in range(0, length, step):
        end = min(start + step, length)
        codes = genome.codes(contig, start, end).copy()
        for s, e in mask[(mask[:, 1] > start) & (mask[:, 0] < end)]:
            codes[max(s, start) - start : min(e, end) - start] |= _LOWER
        n_lines = -(-len(codes) // LINE)
        padded = np.full(n_lines * (LINE + 1), ord("\n"), dtype=np.uint8)
        rows = padded.reshape(n_lines, LINE + 1)
        full = len(codes) // LINE
        rows[:full, :LINE] = codes[: full * LINE].reshape(full, LINE)
        text = rows.tobytes()
        tail = len(codes) - full * LINE
        if tail:
            text = text[: full * (LINE + 1)] + codes[full * LINE :].tobytes() + b"\n"
        out.write(text)
        written += len(text)
    return written
