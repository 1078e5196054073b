"""A genome with random access to any region, backed by a memory-mapped packed cache."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .. import names
from .._atomic import make_temp_folder
from .._cache import cache_subdir
from .._textio import sniff_format
from ..errors import GenomeFormatError
from ._aliases import ContigAliases
from ._fasta import pack_fasta
from ._genbank import pack_genbank
from ._pack import ContigInfo, SequencePacker

log = logging.getLogger(__name__)

PACK_VERSION = "1"  # bump when the packed layout changes, so old caches are rebuilt
_PACKERS = {"fasta": pack_fasta, "genbank": pack_genbank}


class Genome:
    """Contigs of a genome with fast random access to any region.

    Open one with :meth:`Genome.open` (FASTA, gzip FASTA, GenBank or GFF3 with a
    ``##FASTA`` section) or build a small one with :meth:`Genome.from_sequences`.
    Sequences come back upper-case with ``A C G T N`` only; IUPAC ambiguity codes
    are stored as ``N`` and counted in :meth:`summary`; lower-case (soft-masked)
    runs are kept as intervals, see :meth:`soft_mask`.

    Examples
    --------
    >>> g = Genome.from_sequences({"chr1": "ACGTacgtNNRY", "chr2": "GGCC"})
    >>> g.fetch("chr1", 2, 8), g.lengths["chr2"]
    ('GTACGT', 4)
    >>> g.soft_mask("chr1").tolist()
    [[4, 8]]
    """

    def __init__(
        self,
        contigs: list[ContigInfo],
        buffer: np.ndarray,
        softmask: Mapping[str, np.ndarray],
        *,
        source: str = "",
        aliases: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._contigs = {info.name: info for info in contigs}
        self._buffer = buffer  # (total_length,) uint8, ASCII A C G T N
        self._softmask = dict(softmask)
        self.source = source
        self.aliases = ContigAliases(self._contigs, aliases)

    # -- construction -----------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        format: str | None = None,
        aliases: Mapping[str, Iterable[str]] | None = None,
        cache_dir: str | Path | None = None,
    ) -> Genome:
        """Open a sequence file, packing it into the cache on first use.

        Parameters
        ----------
        path
            FASTA (plain or gzip), GenBank, or GFF3 with a ``##FASTA`` section.
        format
            ``"fasta"``, ``"genbank"`` or ``"gff3"``; sniffed from the content when None.
        aliases
            ``{contig: [other names]}`` used to resolve contig names in annotation files.
        cache_dir
            Where the packed copy goes; default ``$GENOINTERP_CACHE/genomes``.
        """
        path = Path(path)
        fmt = format or sniff_format(path, GenomeFormatError)
        packed = _packed_dir(path, cache_dir)
        if not (packed / "index.json").exists():
            _pack_to(path, fmt, packed)
        return cls._load_packed(packed, source=str(path), aliases=aliases)

    @classmethod
    def from_sequences(
        cls,
        sequences: Mapping[str, str],
        *,
        circular: Iterable[str] = (),
        aliases: Mapping[str, Iterable[str]] | None = None,
    ) -> Genome:
        """A genome held in memory, validated like a FASTA file."""
        out = io.BytesIO()
        packer = SequencePacker(out, "<in-memory>")
        circular = set(circular)
        for i, (name, seq) in enumerate(sequences.items(), start=1):
            packer.start(name, line=i, circular=name in circular)
            packer.add(seq.encode("ascii", "replace"), line=i)
        contigs = packer.finish(line=len(sequences))
        buffer = np.frombuffer(out.getvalue(), dtype=np.uint8)
        return cls(contigs, buffer, packer.softmask, source="<in-memory>", aliases=aliases)

    @classmethod
    def _load_packed(cls, packed: Path, *, source: str, aliases) -> Genome:
        index = json.loads((packed / "index.json").read_text())
        contigs = [ContigInfo(**c) for c in index["contigs"]]
        total = sum(c.length for c in contigs)
        buffer = np.memmap(packed / "sequence.u8", dtype=np.uint8, mode="r", shape=(total,))
        with np.load(packed / "softmask.npz") as npz:
            softmask = {c.name: npz[f"c{i}"] for i, c in enumerate(contigs)}
        return cls(contigs, buffer, softmask, source=source, aliases=aliases)

    # -- access -----------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Contig names in file order."""
        return list(self._contigs)

    @property
    def lengths(self) -> dict[str, int]:
        """``{contig: length}``."""
        return {name: info.length for name, info in self._contigs.items()}

    @property
    def circular(self) -> dict[str, bool]:
        """``{contig: True}`` for contigs known to be circular (GenBank topology or manifest)."""
        return {name: bool(info.circular) for name, info in self._contigs.items()}

    def set_circular(self, contigs: Iterable[str]) -> None:
        """Mark contigs as circular (e.g. from a data-set manifest)."""
        for name in contigs:
            self._contigs[self.resolve(name)].circular = True

    def __len__(self) -> int:
        return len(self._contigs)

    def __iter__(self) -> Iterator[str]:
        return iter(self._contigs)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.aliases.get(name) is not None

    def __repr__(self) -> str:
        total = sum(self.lengths.values())
        return f"Genome({len(self)} contigs, {total:,} bp, source={self.source!r})"

    def resolve(self, name: str) -> str:
        """The genome's own name for ``name`` (exact, alias, ``chr`` prefix, accession)."""
        return self.aliases.resolve(name)

    def codes(self, contig: str, start: int = 0, end: int | None = None) -> np.ndarray:
        """Bases of ``contig[start:end]`` as a uint8 array of ASCII codes (a view, no copy)."""
        info = self._contigs[self.resolve(contig)]
        end = info.length if end is None else end
        if not 0 <= start <= end <= info.length:
            raise IndexError(
                f"region {info.name}:{start}-{end} is outside the contig (length {info.length}); "
                "coordinates are 0-based half-open"
            )
        return self._buffer[info.offset + start : info.offset + end]

    def fetch(self, contig: str, start: int = 0, end: int | None = None) -> str:
        """Sequence of ``contig[start:end]`` (0-based, half-open), upper-case ``ACGTN``."""
        return self.codes(contig, start, end).tobytes().decode("ascii")

    def soft_mask(self, contig: str) -> np.ndarray:
        """Lower-case runs of the input as ``(n, 2)`` int64 ``[start, end)`` intervals."""
        return self._softmask[self.resolve(contig)]

    @property
    def sequence_md5(self) -> dict[str, str]:
        """md5 of each contig's upper-case input sequence (as data-set manifests record it)."""
        return {name: info.md5 for name, info in self._contigs.items()}

    @property
    def checksum(self) -> str:
        """One checksum for the whole genome: sha256 over contig names, lengths and md5s."""
        text = "".join(f"{i.name}\t{i.length}\t{i.md5}\n" for i in self._contigs.values())
        return hashlib.sha256(text.encode()).hexdigest()

    def summary(self) -> pd.DataFrame:
        """One row per contig: length, GC, N, ambiguous and soft-masked counts, md5."""
        rows = []
        for name, info in self._contigs.items():
            counts = np.bincount(self.codes(name), minlength=128)
            gc = counts[ord("G")] + counts[ord("C")]
            acgt = gc + counts[ord("A")] + counts[ord("T")]
            rows.append(
                {
                    names.CHROM: name,
                    "length": info.length,
                    "gc": gc / max(acgt, 1),
                    "n_unknown": info.n_unknown,
                    "n_ambiguous": info.n_ambiguous,
                    "n_softmasked": info.n_softmasked,
                    "circular": bool(info.circular),
                    "md5": info.md5,
                }
            )
        return pd.DataFrame(rows)


def _packed_dir(path: Path, cache_dir: str | Path | None) -> Path:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{PACK_VERSION}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir else cache_subdir("genomes")
    return root / f"{path.name.split('.')[0]}-{digest}"


def _pack_to(path: Path, fmt: str, packed: Path) -> None:
    """Pack into a temporary folder and rename it into place: no half-written cache."""
    packed.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_folder(packed.parent, f".tmp-{packed.name}.")
    try:
        with open(tmp / "sequence.u8", "wb") as out:
            if fmt == "gff3":
                contigs, softmask = pack_fasta(path, out, after_fasta_directive=True)
            elif fmt in _PACKERS:
                contigs, softmask = _PACKERS[fmt](path, out)
            else:
                raise GenomeFormatError(
                    path, f"unknown sequence format {fmt!r}", "use fasta, genbank or gff3"
                )
        index = {
            "pack_version": PACK_VERSION,
            "source": str(path),
            "format": fmt,
            "contigs": [vars(c) for c in contigs],
        }
        (tmp / "index.json").write_text(json.dumps(index, indent=1))
        np.savez(tmp / "softmask.npz", **{f"c{i}": softmask[c.name] for i, c in enumerate(contigs)})
        _log_ambiguous(path, contigs)
        try:
            os.replace(tmp, packed)
        except OSError:  # another process packed the same file meanwhile
            if not (packed / "index.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _log_ambiguous(path: Path, contigs: list[ContigInfo]) -> None:
    n_ambiguous = sum(c.n_ambiguous for c in contigs)
    if n_ambiguous:
        log.warning(
            "%s: %d IUPAC ambiguity codes (other than N) were stored as N", path, n_ambiguous
        )
