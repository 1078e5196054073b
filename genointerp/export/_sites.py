"""Scratch files of sites and value runs, and BED files merged from them window by window.

A feature's sites on one strand arrive block by block, in contig and position order.
:class:`SiteWriter` appends them to a scratch file (records sorted by ``key = contig << 40 |
start``), joining a site that continues across a block edge.  :func:`merged_bed` then
writes any set of such files (one feature's two strands, or every feature of a class) as
one BED sorted by contig and start, reading each file forward a window at a time (about
100,000 sites), so memory stays bounded by the window, not by the genome or the number of
sites.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._atomic import atomic_open

SITE = np.dtype([("key", "<i8"), ("end", "<i8"), ("peak", "<f4")])
RUN = np.dtype([("contig", "<i4"), ("start", "<i8"), ("end", "<i8"), ("value", "<f4")])
SHIFT = 40  # key = contig << SHIFT | start: 2^40 positions per contig, 2^23 contigs
WINDOW_ROWS = 100_000  # sites per merge window (about)


def append(path: Path, records: np.ndarray) -> None:
    """Append structured records to a scratch file."""
    if len(records):
        with open(path, "ab") as out:
            out.write(records.tobytes())


def blocks(path: Path, dtype: np.dtype, step: int = 1 << 16):
    """The records of a scratch file, ``step`` at a time (none when the file is missing)."""
    if not path.is_file():
        return
    with open(path, "rb") as handle:
        while len(part := np.fromfile(handle, dtype=dtype, count=step)):
            yield part


def size(path: Path, dtype: np.dtype = SITE) -> int:
    """Number of records in a scratch file."""
    return path.stat().st_size // dtype.itemsize if path.is_file() else 0


class _Cursor:
    """Reads one sorted site file forward: :meth:`take` returns the records below a key."""

    def __init__(self, path: Path) -> None:
        self._blocks = blocks(path, SITE)
        self._buffer = np.zeros(0, dtype=SITE)

    def take(self, stop: int) -> np.ndarray:
        parts = []
        while True:
            cut = int(np.searchsorted(self._buffer["key"], stop))
            parts.append(self._buffer[:cut])
            self._buffer = self._buffer[cut:]
            if len(self._buffer):
                break
            self._buffer = next(self._blocks, None)
            if self._buffer is None:
                self._buffer = np.zeros(0, dtype=SITE)
                break
        return np.concatenate(parts)


class SiteWriter:
    """Sites of one feature on one strand, appended block by block to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: np.ndarray | None = None  # the last site, which the next block may extend

    def add(self, contig: int, starts: np.ndarray, ends: np.ndarray, peaks: np.ndarray) -> None:
        if len(starts) == 0:
            return
        records = np.empty(len(starts), dtype=SITE)
        records["key"] = (np.int64(contig) << SHIFT) | starts
        records["end"], records["peak"] = ends, peaks
        if self.pending is not None:
            last = self.pending[0]
            if last["key"] >> SHIFT == contig and last["end"] == starts[0]:
                records["key"][0] = last["key"]
                records["peak"][0] = max(last["peak"], peaks[0])
            else:
                append(self.path, self.pending)
        append(self.path, records[:-1])
        self.pending = records[-1:].copy()

    def close(self) -> None:
        if self.pending is not None:
            append(self.path, self.pending)
            self.pending = None


@dataclass
class SiteSource:
    """One scratch site file and how its rows are written: BED name, strand, colour and the
    activation that scores 1000."""

    path: Path
    name: str
    strand: str
    color: str
    top: float


def merged_bed(
    path: Path | None,
    sources: list[SiteSource],
    sizes: dict[str, int],
    bigbed: Path | None = None,
) -> int:
    """Write the sites of ``sources`` as one BED9 sorted by contig, start, strand and name,
    and (when ``bigbed`` is given and there are sites) the same rows as a bigBed; with
    ``path`` None, only the bigBed.

    ``sizes`` is ``{browser name: length}`` in contig-index order.  The rows are built once,
    window by window: each window's lines go to the BED while pybigtools takes them.
    Returns the number of rows.
    """
    from ._bigfiles import write_bigbed

    n = count(sources)
    name = (path or bigbed).stem
    with atomic_open(path) if path is not None else contextlib.nullcontext(_Discard()) as out:
        rows = _rows(sources, sizes, out)
        if bigbed is not None and n:
            write_bigbed(bigbed, sizes, rows, columns=9, description=name)
        for _ in rows:  # without a bigBed (or with no sites): only the BED lines
            pass
    return n


class _Discard:
    """A text sink for the BED lines of a bigBed-only file."""

    def write(self, text: str) -> int:
        return len(text)


def _rows(sources: list[SiteSource], sizes: dict[str, int], out):
    """(chrom, start, end, rest) of every site in order; writes each window's BED lines.

    Windows hold about :data:`WINDOW_ROWS` sites (their width follows the site density), so
    memory does not grow with the number of features or sites.
    """
    cursors = [_Cursor(s.path) for s in sources]
    heads = [f"{s.name}\t" for s in sources]
    middles = [f"\t{s.strand}\t" for s in sources]
    tails = [f"\t{s.color}" for s in sources]
    scales = np.array([1000.0 / s.top if s.top > 0 else 0.0 for s in sources])
    density = count(sources) / max(sum(sizes.values()), 1)
    width = int(min(max(WINDOW_ROWS / max(density, 1e-9), 1024), 1 << 26))
    for contig, (chrom, length) in enumerate(sizes.items()):
        for lo in range(0, length, width):
            stop = (contig << SHIFT) | min(lo + width, length)
            which, start, end, peak = _window([c.take(stop) for c in cursors])
            score = np.clip(np.rint(peak * scales[which]), 0, 1000).astype(np.int64)
            starts, ends = start.tolist(), end.tolist()
            rest = [
                f"{heads[w]}{c}{middles[w]}{s}\t{e}{tails[w]}"
                for w, c, s, e in zip(which.tolist(), score.tolist(), starts, ends, strict=True)
            ]
            out.write(
                "".join(
                    f"{chrom}\t{s}\t{e}\t{r}\n" for s, e, r in zip(starts, ends, rest, strict=True)
                )
            )
            yield from zip(itertools.repeat(chrom), starts, ends, rest)


def _window(parts: list[np.ndarray]):
    """(source index, start, end, peak) of the sites of one window (one array per source),
    sorted by start, then source (sources are in feature, strand order)."""
    which = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    records = np.concatenate(parts) if parts else np.zeros(0, dtype=SITE)
    start = records["key"] & ((1 << SHIFT) - 1)
    order = np.lexsort((which, start))
    return (
        which[order],
        start[order],
        records["end"][order],
        records["peak"][order].astype(np.float64),
    )


def top_sites(sources: list[SiteSource], browser: list[str], n: int = 10) -> list[dict]:
    """The ``n`` strongest sites of ``sources`` (ties: first in position order)."""
    found = []
    for source in sources:
        for part in blocks(source.path, SITE):
            best = np.sort(np.argsort(-part["peak"], kind="stable")[:n])
            for r in part[best]:
                contig, start = int(r["key"] >> SHIFT), int(r["key"] & ((1 << SHIFT) - 1))
                found.append((-float(r["peak"]), contig, start, int(r["end"]), source.strand))
    found.sort()
    return [
        {"contig": browser[c], "start": s, "end": e, "strand": strand, "activation": -peak}
        for peak, c, s, e, strand in found[:n]
    ]


def count(sources: list[SiteSource]) -> int:
    """Number of sites in ``sources``."""
    return sum(size(s.path) for s in sources)
