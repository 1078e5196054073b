"""Concept tracks as BED: BED9 with the concept's colour; BED12 blocks for codon positions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import names
from .._atomic import atomic_open


def concept_beds(
    tracks,
    folder: str | Path,
    concepts: Sequence[str] | None = None,
    *,
    header: bool = False,
    contig_names: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write one BED file per concept, ``<folder>/<concept>.bed``.

    Ordinary intervals become BED9 lines (name = element id, score 0, itemRgb = the
    concept's colour).  A concept of periodic parts (codon positions: every third
    nucleotide) becomes BED12 lines whose 1-nt blocks are exactly its positions, so a
    genome browser draws what the concept contains.

    Parameters
    ----------
    tracks
        :class:`~genointerp.concepts.ConceptTracks`.
    folder
        Output folder (created).
    concepts
        Concepts to write (default: all, in catalog order).
    header
        Start each file with a UCSC ``track name=... itemRgb="On"`` line.  Off by default:
        pyranges' ``read_bed`` and many tools reject it; IGV and UCSC use itemRgb anyway
        when the track settings (IGV session, hub) say so.
    contig_names
        ``{genome name: browser name}`` (see :class:`ContigNames`); default: unchanged.

    Returns
    -------
    list of Path
        The files written, in the order of ``concepts``.

    Examples
    --------
    >>> import genointerp as gi
    >>> tracks = gi.concepts.ConceptTracks.read("run/concepts.h5")          # doctest: +SKIP
    >>> gi.export.concept_beds(tracks, "run/tracks/concepts", ["cds"])      # doctest: +SKIP
    [PosixPath('run/tracks/concepts/cds.bed')]
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_concept_bed(
            folder / f"{c}.bed", tracks.spec(c), tracks.parts(c), header, contig_names
        )
        for c in (concepts or tracks.concepts)
    ]


def write_concept_bed(
    path: Path,
    spec,
    parts: pd.DataFrame,
    header: bool = False,
    contig_names: Mapping[str, str] | None = None,
) -> Path:
    """Write one concept's parts to ``path`` (atomically), sorted by contig and start."""
    parts = parts.copy()
    if contig_names:
        parts[names.CHROM] = parts[names.CHROM].map(lambda c: contig_names.get(c, c))
    parts = parts.sort_values([names.CHROM, names.START, names.END], kind="stable")
    periodic = bool((parts["Frame"] >= 0).any())
    columns = [names.CHROM, names.START, names.END, names.STRAND, names.ELEMENT, "Frame"]
    rows = [
        _bed12(chrom, start, end, strand, element, frame, spec.color)
        if periodic
        else [chrom, start, end, element, 0, strand, start, end, spec.color]
        for chrom, start, end, strand, element, frame in parts[columns].itertuples(index=False)
    ]
    # a BED12 row starts at its first covered position, up to 2 nt after its part's start
    rows = sorted((r for r in rows if r), key=lambda r: (r[0], r[1], r[2])) if periodic else rows
    with atomic_open(path, "w") as out:
        if header:
            out.write(f'track name="{spec.name}" description="{spec.label}" itemRgb="On"\n')
        out.writelines("\t".join(map(str, row)) + "\n" for row in rows)
    return path


def is_bed12(path: str | Path) -> bool:
    """Whether the first data line of a BED file has 12 columns."""
    with open(path) as handle:
        for line in handle:
            if line.strip() and not line.startswith(("track", "browser", "#")):
                return len(line.rstrip("\n").split("\t")) >= 12
    return False


def _bed12(chrom, start, end, strand, element, frame, color) -> list | None:
    if frame < 0:
        positions, size = np.array([start]), end - start
    else:
        positions, size = np.arange(start + (frame - start) % 3, end, 3), 1
    if len(positions) == 0:
        return None
    first, last = int(positions[0]), int(positions[-1]) + size
    sizes = ",".join([str(size)] * len(positions))
    offsets = ",".join(map(str, positions - first))
    return [
        chrom,
        first,
        last,
        element,
        0,
        strand,
        first,
        last,
        color,
        len(positions),
        sizes,
        offsets,
    ]
