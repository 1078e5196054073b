"""Concept tracks as BED: BED9 with the concept colour; BED12 blocks for codon positions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import names
from .._atomic import atomic_open
from ._catalog import ConceptSpec


def write_concept_bed(path: Path, spec: ConceptSpec, parts: pd.DataFrame) -> Path:
    """Write one concept's parts to ``path`` (atomically), sorted by contig and start.

    Ordinary intervals become BED9 lines.  A periodic interval (codon position:
    every third nucleotide) becomes one BED12 line whose 1-nt blocks are exactly
    its positions, so genome browsers draw what the concept contains.
    """
    parts = parts.sort_values([names.CHROM, names.START, names.END], kind="stable")
    periodic = bool((parts["Frame"] >= 0).any())
    header = f'track name="{spec.name}" description="{spec.label}" itemRgb="On"\n'
    columns = [names.CHROM, names.START, names.END, names.STRAND, names.ELEMENT, "Frame"]
    with atomic_open(path, "w") as out:
        out.write(header)
        for chrom, start, end, strand, element, frame in parts[columns].itertuples(index=False):
            line = (
                _bed12(chrom, start, end, strand, element, frame, spec.color)
                if periodic
                else [chrom, start, end, element, 0, strand, start, end, spec.color]
            )
            if line:
                out.write("\t".join(map(str, line)) + "\n")
    return path


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
