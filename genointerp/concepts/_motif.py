"""Motif concepts: a known sequence motif (IUPAC consensus or PWM) scanned on both strands.

A catalog concept with ``motif:`` instead of ``select:`` becomes one element per site of
the motif on the genome.  :func:`motif_parts` scans; :func:`within` keeps the sites that
lie inside a region concept's parts (e.g. Shine-Dalgarno sites in ``gene_upstream``).

Scanner
-------
Sites are scored with Biopython's ``Bio.motifs`` position-specific scoring matrix
(``PositionSpecificScoringMatrix.calculate``, a compiled loop over the sequence), a kept
scanner already among genointerp's dependencies.  It was chosen over memelite's and
tangermeme's FIMO because it thresholds the *score* itself: a consensus becomes a 0/1
matrix (1 where the genome's base is one of the IUPAC letter's bases), so "score >=
length - max_mismatches" is exactly "at most ``max_mismatches`` mismatches", and a PWM's
log-odds threshold is the documented cut-off of the catalog rather than a p-value of the
scanner's own background model.  FIMO reports p-values only, which cannot say "one
mismatch".  Both strands are scanned by scoring the matrix and its reverse complement
along the '+' sequence, so a '-' site comes back in genomic coordinates.  A window holding
a base other than A, C, G, T (an ``N``) scores NaN and is never a site.

Whole E. coli (4.6 Mb, both strands): about 1 s per motif (see tests/test_motif_concepts.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import names

if TYPE_CHECKING:  # _catalog imports this module
    from ..io import Genome
    from ._catalog import ConceptSpec

ALPHABET = "ACGT"
IUPAC = {
    "A": "A",
    "C": "C",
    "G": "G",
    "T": "T",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}
PSEUDOCOUNT = 0.01  # added to PWM probabilities before taking log-odds (no -inf scores)
_ROW_SUM_TOLERANCE = 0.01
_CHUNK = 1 << 24  # nucleotides scored at once (float32 scores: 64 MB per strand)


@dataclass
class MotifSpec:
    """A known sequence motif, scanned on both strands of the genome.

    Give either ``consensus`` (with ``max_mismatches``) or ``pwm`` (with ``threshold``).
    """

    consensus: str = ""
    """IUPAC DNA consensus (``A C G T R Y S W K M B D H V N``, any case), e.g. ``GCTGGTGG``
    (Chi).  A site's base matches a position when it is one of the letter's bases."""
    pwm: list[list[float]] = field(default_factory=list)
    """Letter probabilities, one row per position, columns A, C, G, T, each row summing
    to 1; scored as log2 odds against a uniform background (pseudocount 0.01)."""
    threshold: float | None = None
    """For a ``pwm`` (required there): the log-odds score in bits a site must reach; the
    best possible score is the sum of each row's best log-odds."""
    max_mismatches: int = 0
    """For a ``consensus``: positions a site may mismatch (an ``N`` never mismatches)."""
    within: str = ""
    """Name of a region concept of the same catalog; only sites inside its parts (on the
    same strand when both are stranded) are kept."""
    source: str = ""
    """Where the motif comes from: authors, year, journal."""

    def __post_init__(self) -> None:
        if bool(self.consensus) == bool(self.pwm):
            raise ValueError("a motif needs either 'consensus' or 'pwm' (not both)")
        if self.consensus:
            self.consensus = self.consensus.upper()
            bad = [(i, b) for i, b in enumerate(self.consensus, 1) if b not in IUPAC]
            if bad:
                i, letter = bad[0]
                raise ValueError(
                    f"consensus {self.consensus!r} has {letter!r} at position {i}, not an IUPAC "
                    f"DNA letter; use {' '.join(IUPAC)}"
                )
            if self.threshold is not None:
                raise ValueError("'threshold' is for a pwm; a consensus takes 'max_mismatches'")
            fixed = sum(b != "N" for b in self.consensus)
            if not 0 <= self.max_mismatches < fixed:
                raise ValueError(
                    f"max_mismatches {self.max_mismatches} must be 0 to {fixed - 1} (fewer than "
                    f"the {fixed} non-N letters of {self.consensus})"
                )
        else:
            self._check_pwm()

    def _check_pwm(self) -> None:
        ragged = any(not isinstance(row, list) or len(row) != 4 for row in self.pwm)
        rows = np.zeros((0, 4)) if ragged else np.array(self.pwm, dtype=np.float64)
        if ragged or not np.isfinite(rows).all() or (rows < 0).any():
            raise ValueError("pwm must be rows of 4 non-negative numbers (A, C, G, T)")
        sums = rows.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1) > _ROW_SUM_TOLERANCE)
        if off.size:
            raise ValueError(
                f"pwm row {off[0] + 1} sums to {sums[off[0]]:.4g}, not 1; give probabilities "
                "(divide counts by the row total)"
            )
        if self.max_mismatches:
            raise ValueError("'max_mismatches' is for a consensus; a pwm takes 'threshold'")
        if self.threshold is None:
            raise ValueError("a pwm needs 'threshold' (log-odds bits a site must reach)")
        best = float(self.scores().max(axis=1).sum())
        if self.threshold > best:
            raise ValueError(
                f"threshold {self.threshold} is above the pwm's best score {best:.2f} bits"
            )

    def __len__(self) -> int:
        return len(self.consensus) or len(self.pwm)

    def matrix(self) -> np.ndarray:
        """``(L, 4)`` letter probabilities (A, C, G, T): the pwm, or for a consensus each
        letter's bases equally likely (``R`` = 0.5 A + 0.5 G)."""
        if self.pwm:
            rows = np.array(self.pwm, dtype=np.float64)
            return rows / rows.sum(axis=1, keepdims=True)
        return np.array([[float(b in IUPAC[c]) for b in ALPHABET] for c in self.consensus]) / [
            [len(IUPAC[c])] for c in self.consensus
        ]

    def scores(self) -> np.ndarray:
        """``(L, 4)`` scoring matrix of the scan: 0/1 matches for a consensus, log2 odds
        against a uniform background for a pwm."""
        if self.consensus:
            return (self.matrix() > 0).astype(np.float64)
        probs = self.matrix() + PSEUDOCOUNT
        return np.log2(probs / probs.sum(axis=1, keepdims=True) / 0.25)

    def min_score(self) -> float:
        """The score a site must reach."""
        if self.consensus:
            return len(self.consensus) - self.max_mismatches - 0.5  # integer scores
        return float(self.threshold) - 1e-4  # float32 sums of the scanner


def motif_parts(spec: ConceptSpec, genome: Genome) -> pd.DataFrame:
    """Every site of ``spec.motif`` on both strands of ``genome``, one element per site.

    Parameters
    ----------
    spec
        A motif concept (``spec.motif`` set).  An unstranded concept reports each site
        once with strand ``.`` (a palindrome's two strands become one element).
    genome
        The genome to scan; a site may wrap around the origin of a circular contig
        (then it is two parts of one element).

    Returns
    -------
    Parts with ``_derive.PART_COLUMNS`` (Frame -1, Phase -1), sorted by position; a site
    on '-' is in genomic coordinates with strand '-' (a palindromic motif gives a site on
    each strand).  ``within`` is not applied here: see :func:`within`.

    Examples
    --------
    >>> from genointerp.io import Genome
    >>> from genointerp.concepts import ConceptSpec
    >>> spec = ConceptSpec("gatc", "Dam site", motif=MotifSpec(consensus="GATC"))
    >>> motif_parts(spec, Genome.from_sequences({"c": "AAGATCAA"}))[["Start", "End", "Strand"]]
       Start  End Strand
    0      2    6      +
    1      2    6      -
    """
    from ._derive import PART_COLUMNS  # _derive imports _catalog, which imports this module

    motif = spec.motif
    if motif is None:
        raise ValueError(f"concept {spec.name} has no motif to scan")
    matrix = motif.scores()
    width = len(matrix)
    pieces = []
    for contig in genome.names:
        size = genome.lengths[contig]
        for strand, scores in (("+", matrix), ("-", matrix[::-1, ::-1])):
            starts = _scan(genome, contig, scores, motif.min_score(), genome.circular.get(contig))
            pieces.append((contig, size, strand, starts))
    rows = []
    for contig, size, strand, starts in pieces:
        ends = starts + width
        ids = [f"{spec.name}:{contig}:{s}-{e}:{strand}" for s, e in zip(starts, ends, strict=True)]
        wraps = ends > size
        rows.append(
            pd.DataFrame(
                {
                    names.CHROM: contig,
                    names.START: starts,
                    names.END: np.minimum(ends, size),
                    names.STRAND: strand,
                    names.ELEMENT: ids,
                }
            )
        )
        if wraps.any():  # the part past the origin of a circular contig
            rows.append(
                pd.DataFrame(
                    {
                        names.CHROM: contig,
                        names.START: 0,
                        names.END: ends[wraps] - size,
                        names.STRAND: strand,
                        names.ELEMENT: np.asarray(ids, dtype=object)[wraps],
                    }
                )
            )
    parts = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=PART_COLUMNS)
    parts = parts.astype({names.START: np.int64, names.END: np.int64})
    if not spec.stranded:
        parts[names.STRAND] = names.UNSTRANDED
        parts[names.ELEMENT] = parts[names.ELEMENT].str.replace(r":[+-]$", ":.", regex=True)
        parts = parts.drop_duplicates([names.ELEMENT, names.START, names.END])
    parts["Frame"] = np.int8(-1)
    parts[names.PHASE] = -1
    return parts.sort_values([names.CHROM, names.START, names.END], kind="stable")[
        PART_COLUMNS
    ].reset_index(drop=True)


def _scan(genome: Genome, contig: str, scores: np.ndarray, cut: float, circular) -> np.ndarray:
    """Start of every window of ``contig`` scoring at least ``cut`` with ``scores``."""
    from Bio.motifs.matrix import PositionSpecificScoringMatrix

    pssm = PositionSpecificScoringMatrix(
        ALPHABET, {b: scores[:, i].tolist() for i, b in enumerate(ALPHABET)}
    )
    width, size = len(scores), genome.lengths[contig]
    found = []
    for lo in range(0, size, _CHUNK):
        hi = min(size, lo + _CHUNK + width - 1)
        text = genome.fetch(contig, lo, hi)
        if hi == size and circular and width > 1:  # windows across the origin
            text += genome.fetch(contig, 0, min(width - 1, size))
        if len(text) < width:
            continue
        score = np.asarray(pssm.calculate(text), dtype=np.float32).reshape(-1)
        hits = np.flatnonzero(score >= cut)
        found.append(lo + hits[hits < min(_CHUNK, size - lo)])
    return np.concatenate(found).astype(np.int64) if found else np.zeros(0, np.int64)


def within(parts: pd.DataFrame, region_parts: pd.DataFrame) -> pd.DataFrame:
    """The elements of ``parts`` lying wholly inside ``region_parts``.

    A part is inside when one interval of the union of the region's parts on its contig
    covers it; a stranded part ('+' or '-') counts only region parts on its own strand or
    unstranded ones ('.'), an unstranded part counts all.  An element is kept when all its
    parts are inside.

    Parameters
    ----------
    parts
        Motif sites, e.g. from :func:`motif_parts` (``_derive.PART_COLUMNS``).
    region_parts
        The region concept's derived parts (e.g. ``gene_upstream``, ``promoter``).

    Returns
    -------
    The kept rows of ``parts``, in their order.

    Examples
    --------
    >>> sites = pd.DataFrame({"Chromosome": "c", "Start": [2, 8, 8], "End": [6, 12, 12],
    ...     "Strand": ["+", "+", "-"], "Element": ["a", "b", "c"]})
    >>> region = pd.DataFrame({"Chromosome": "c", "Start": [0, 7], "End": [6, 20],
    ...     "Strand": ["+", "-"], "Element": ["r1", "r2"]})
    >>> within(sites, region)["Element"].tolist()
    ['a', 'c']
    """
    inside = np.zeros(len(parts), dtype=bool)
    strand = parts[names.STRAND].to_numpy()
    for own in ("+", "-", names.UNSTRANDED):
        rows = np.flatnonzero(strand == own)
        if not rows.size:
            continue
        eligible = region_parts
        if own != names.UNSTRANDED:
            eligible = region_parts[region_parts[names.STRAND].isin([own, names.UNSTRANDED])]
        inside[rows] = _covered(parts.iloc[rows], eligible)
    kept = pd.Series(inside, index=parts.index).groupby(parts[names.ELEMENT]).transform("all")
    return parts[kept.to_numpy()]


def _covered(parts: pd.DataFrame, region: pd.DataFrame) -> np.ndarray:
    """Per part: does one merged interval of ``region`` on its contig cover it?"""
    from ._derive import _merge_intervals

    out = np.zeros(len(parts), dtype=bool)
    contigs = parts[names.CHROM].to_numpy()
    by_contig = dict(tuple(region.groupby(names.CHROM, sort=False)))
    for contig in np.unique(contigs):
        if contig not in by_contig:
            continue
        r = by_contig[contig]
        starts, ends = _merge_intervals(r[names.START].to_numpy(), r[names.END].to_numpy())
        rows = np.flatnonzero(contigs == contig)
        s = parts[names.START].to_numpy()[rows]
        e = parts[names.END].to_numpy()[rows]
        i = np.searchsorted(starts, s, side="right") - 1
        out[rows] = (i >= 0) & (e <= ends[np.maximum(i, 0)])
    return out
