"""Significance: circular shifts of the concept track, and Benjamini-Hochberg q-values.

Shifting a concept's track along each contig keeps its structure (element lengths,
spacing, codon periodicity, clustering) and breaks only its registration with the
activations.  For every shift the test-split statistic is recomputed from prefix sums
of the activity, so one shift costs O(number of elements), not O(genome length).
"""

from __future__ import annotations

import numpy as np

from .. import names
from ._positions import ConceptArrays

N_SHIFTS = 1000
MIN_SHIFT = 0.05  # shifts stay at least this fraction of the contig away from 0


def shift_test(
    active: np.ndarray,
    concept: str,
    arrays: ConceptArrays,
    split: int,
    *,
    n_shifts: int = N_SHIFTS,
    seed: int = 0,
) -> dict:
    """Element-F1 (and per-nt F1) of ``active`` on ``split`` against shifted tracks.

    Parameters
    ----------
    active
        Whole-genome boolean activity (:class:`~genointerp.align._positions.GenomeIndex` order).
    Returns
    -------
    dict
        ``observed`` and ``null`` (n_shifts,) element-F1, ``p_value`` =
        (1 + #null >= observed) / (1 + n_shifts), and the same for per-nt F1 (``f1_*``).
    """
    index, tracks = arrays.index, arrays.tracks
    rng = np.random.default_rng(seed)
    in_split = arrays.split_ids == split
    n_active = int(np.count_nonzero(active & in_split))
    positives = int(np.count_nonzero(arrays.get(concept)[0] & in_split))
    tp = np.zeros(n_shifts + 1)
    hits = np.zeros(n_shifts + 1)
    n_elements = np.zeros(n_shifts + 1)
    parts = tracks.parts(concept)
    for contig, length in index.contigs.items():
        lo = max(1, int(length * MIN_SHIFT))
        shifts = np.concatenate([[0], rng.integers(lo, max(lo, length - lo) + 1, n_shifts)])
        prefix = {
            strand: _Prefix(active, in_split, index.base(contig, strand), length)
            for strand in index.strands
        }
        mask_of = {
            strand: arrays.get(concept)[0][index.base(contig, strand) :][:length]
            for strand in index.strands
        }
        for strand in index.strands:
            tp += _run_counts(prefix[strand], mask_of[strand], shifts)
        on_contig = parts[parts[names.CHROM] == contig]
        if len(on_contig):
            h, n = _element_hits(on_contig, prefix, shifts, arrays, contig, length, split)
            hits += h
            n_elements += n
    precision = tp / n_active if n_active else np.zeros_like(tp)
    element_recall = np.divide(hits, n_elements, out=np.zeros_like(hits), where=n_elements > 0)
    recall = tp / positives if positives else np.zeros_like(tp)
    element_f1 = _f1(precision, element_recall)
    f1 = _f1(precision, recall)
    return {
        "observed": float(element_f1[0]),
        "null": element_f1[1:],
        "p_value": _p(element_f1),
        "f1_observed": float(f1[0]),
        "f1_p_value": _p(f1),
        "n_shifts": n_shifts,
    }


def _p(stat: np.ndarray) -> float:
    return float((1 + np.count_nonzero(stat[1:] >= stat[0] - 1e-12)) / len(stat))


def _f1(p, r):
    return np.divide(2 * p * r, p + r, out=np.zeros_like(p, dtype=float), where=(p + r) > 0)


class _Prefix:
    """Active split positions of one contig and strand below a doubled index, by residue.

    The contig is doubled so a shifted interval never wraps.  Only one cumulative sum
    per codon residue is kept (each over a third of the doubled contig): the count of
    active positions ``i < j`` with ``i % 3 == r`` is ``sums[r, (j - r + 2) // 3]``.
    """

    def __init__(self, active, in_split, base: int, length: int) -> None:
        on = active[base : base + length] & in_split[base : base + length]
        doubled = np.concatenate([on, on])
        self.sums = np.zeros((3, (2 * length + 2) // 3 + 1), dtype=np.int64)
        for r in range(3):
            column = np.cumsum(doubled[r::3], dtype=np.int64)
            self.sums[r, 1 : 1 + len(column)] = column

    def below(self, residue, j) -> np.ndarray:
        """Active positions ``i < j`` with ``i % 3 == residue`` (arrays broadcast)."""
        return self.sums[residue, (j - residue + 2) // 3]

    def count(self, starts, ends, residues, shifts) -> np.ndarray:
        """(n_shifts, n) active positions in [s + sh, e + sh) whose doubled index is
        (residue + sh) mod 3; residue -1 means every position."""
        sh = shifts[:, None]
        s, e = starts[None, :] + sh, ends[None, :] + sh
        out = np.zeros(s.shape, dtype=np.float64)
        periodic = residues >= 0
        if periodic.any():
            r = (residues[None, periodic] + sh) % 3
            out[:, periodic] = self.below(r, e[:, periodic]) - self.below(r, s[:, periodic])
        if not periodic.all():
            se, ee = s[:, ~periodic], e[:, ~periodic]
            out[:, ~periodic] = sum(self.below(r, ee) - self.below(r, se) for r in range(3))
        return out


def _run_counts(prefix, mask: np.ndarray, shifts) -> np.ndarray:
    """Active positions inside the shifted concept mask, per shift (disjoint runs by residue)."""
    total = np.zeros(len(shifts))
    for r in range(3):
        sub = np.concatenate([[False], mask[r::3], [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(sub))
        a, b = edges[0::2], edges[1::2]
        if len(a):
            starts, ends = r + 3 * a, r + 3 * (b - 1) + 1
            total += prefix.count(starts, ends, np.full(len(a), r), shifts).sum(1)
    return total


def _element_hits(parts, prefix, shifts, arrays, contig, length, split):
    elem = parts[names.ELEMENT].to_numpy()
    starts, ends = parts[names.START].to_numpy(), parts[names.END].to_numpy()
    frames = parts["Frame"].to_numpy().astype(np.int64)
    counts = np.zeros((len(shifts), len(parts)))
    for strand, pre in prefix.items():
        on = (parts[names.STRAND] == strand).to_numpy() | (parts[names.STRAND] == ".").to_numpy()
        if on.any():
            counts[:, on] += pre.count(starts[on], ends[on], frames[on], shifts)
    uniq, inverse = np.unique(elem, return_inverse=True)
    per_element = np.zeros((len(shifts), len(uniq)))
    np.add.at(per_element.T, inverse, counts.T)
    mids = _midpoints(starts, ends, inverse, len(uniq))
    shifted = (mids[None, :] + shifts[:, None]) % length
    in_split = arrays.split.of(contig, shifted.ravel()).reshape(shifted.shape) == split
    return (
        np.count_nonzero((per_element > 0) & in_split, axis=1),
        np.count_nonzero(in_split, axis=1),
    )


def _midpoints(starts, ends, inverse, n) -> np.ndarray:
    lo = np.full(n, np.iinfo(np.int64).max)
    hi = np.zeros(n, dtype=np.int64)
    np.minimum.at(lo, inverse, starts)
    np.maximum.at(hi, inverse, ends)
    return (lo + hi) // 2
