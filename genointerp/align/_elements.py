"""Per-element best levels, kept only while an element is still being read.

An element (a gene, a tRNA, ...) is hit at a threshold when at least one of its
positions reaches it, so the engine needs, per element and feature, the highest level
seen.  Holding that for every element at once is (elements x features) bytes: 1.2 GB
for E. coli at 32,768 features.  Instead each element gets a row ("slot") of a small
table when the stream first reaches it; the number of its positions still to come is
known in advance, and when it reaches 0 the element's best levels go into the
histogram and the slot is reused.  Memory then follows the elements open at once (those
overlapping the current chunk, and unstranded ones waiting for the other strand), not
the genome.
"""

from __future__ import annotations

import numba
import numpy as np

from .. import names
from ._kernels import BLOCK, close_elements, fill_ids


class OpenElements:
    """Global element numbering over ``concepts``, their splits, and the open slots."""

    def __init__(self, tracks, concepts, split, contigs: dict[str, int], strands, n_features):
        self.n_concepts, self.n_features = len(concepts), n_features
        self.parts: list[dict] = []  # per concept: (contig, strand) -> part arrays
        self.offsets, split_of, concept_of = [], [], []
        total = 0
        for c, concept in enumerate(concepts):
            table = tracks.elements(concept)
            self.offsets.append(total)
            total += len(table)
            mid = ((table[names.START] + table[names.END]) // 2).to_numpy()
            ids = np.zeros(len(table), dtype=np.int64)
            for contig, rows in table.groupby(names.CHROM, sort=False).indices.items():
                ids[rows] = split.of(contig, mid[rows])
            split_of.append(ids)
            concept_of.append(np.full(len(table), c, dtype=np.int64))
            self.parts.append(_part_arrays(tracks.parts(concept), contigs, strands))
        self.split_of = np.concatenate(split_of) if split_of else np.zeros(0, np.int64)
        self.concept_of = np.concatenate(concept_of) if concept_of else np.zeros(0, np.int64)
        self.total = total
        self.remaining = self._positions(contigs, strands)  # positions still to be read
        self.slot_of = np.full(total, -1, dtype=np.int64)
        self.free: list[int] = []
        self.best = np.zeros((0, n_features), dtype=np.uint8)  # (slots, F) best level
        self.touched = np.zeros((0, -(-n_features // BLOCK)), dtype=np.uint8)  # blocks set

    def per_split(self, n_splits: int) -> np.ndarray:
        """(S, C) number of elements of each concept in each split."""
        out = np.zeros((n_splits, self.n_concepts), dtype=np.int64)
        np.add.at(out, (self.split_of, self.concept_of), 1)
        return out

    def ids(self, contig: str, strand: str, start: int, end: int) -> np.ndarray:
        """(n, C) global element index at each position of the range, -1 where none.

        ``ids >= 0`` is the concepts' mask (:meth:`ConceptTracks.mask`).
        """
        out = np.full((end - start, self.n_concepts), -1, dtype=np.int64)
        for c, by_pass in enumerate(self.parts):
            arrays = by_pass.get((contig, strand))
            if arrays is not None:
                fill_ids(out, c, start, *arrays, self.offsets[c])
        return out

    def open(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slots of the elements at each row: per row how many, and all of them in row order.

        ``ids``: (n, C) from :meth:`ids`.  Elements seen for the first time get a slot.
        """
        member = ids >= 0
        glob = ids[member]  # row-major: each row's elements, by concept
        new = np.unique(glob[self.slot_of[glob] < 0])
        self._assign(new)
        return member.sum(1), self.slot_of[glob].astype(np.int32)

    def read(self, ids: np.ndarray, out: np.ndarray) -> None:
        """Count the chunk's positions as read; close the elements that are complete.

        ``out``: (S, C, F, L) histogram of the elements' best levels.
        """
        n = np.bincount(ids[ids >= 0], minlength=self.total)
        self.remaining -= n
        self.close(np.flatnonzero((n > 0) & (self.remaining == 0)), out)

    def close(self, elements: np.ndarray, out: np.ndarray) -> None:
        """Add ``elements``' best levels to ``out`` (S, C, F, L) and free their slots."""
        elements = elements[self.slot_of[elements] >= 0]
        if not len(elements):
            return
        slots = self.slot_of[elements]
        splits, concepts = self.split_of[elements], self.concept_of[elements]
        close_elements(
            self.best, self.touched, slots, splits, concepts, out, numba.get_num_threads()
        )
        self.free.extend(slots.tolist())
        self.slot_of[elements] = -1

    def close_all(self, out: np.ndarray) -> None:
        """Close every element still open (a source shorter than its contigs)."""
        self.close(np.flatnonzero(self.slot_of >= 0), out)

    def _assign(self, new: np.ndarray) -> None:
        short = len(new) - len(self.free)
        if short > 0:
            have = len(self.best)
            grown = max(have * 2, have + short, 256)
            best = np.zeros((grown, self.n_features), dtype=np.uint8)
            best[:have] = self.best
            touched = np.zeros((grown, self.touched.shape[1]), dtype=np.uint8)
            touched[:have] = self.touched
            self.free.extend(range(have, grown))
            self.best, self.touched = best, touched
        take, self.free = self.free[: len(new)], self.free[len(new) :]
        self.slot_of[new] = take

    def _positions(self, contigs: dict[str, int], strands) -> np.ndarray:
        """Positions of each element that the stream will read (over every pass)."""
        remaining = np.zeros(self.total, dtype=np.int64)
        for c, by_pass in enumerate(self.parts):
            for (contig, _), arrays in by_pass.items():
                ids = np.full((contigs[contig], 1), -1, dtype=np.int64)  # one contig at a time
                fill_ids(ids, 0, 0, *arrays, self.offsets[c])
                remaining += np.bincount(ids[ids >= 0], minlength=self.total)
        return remaining


def _part_arrays(parts, contigs: dict[str, int], strands) -> dict:
    """Per (contig, strand): the parts ``element_ids`` would paint, in its order."""
    order = parts[names.ELEMENT].unique()  # elements() numbers elements in this order
    element = parts[names.ELEMENT].map(dict(zip(order, range(len(order)), strict=True)))
    out = {}
    for contig in contigs:
        on_contig = parts[names.CHROM] == contig
        for strand in strands:
            keep = (on_contig & parts[names.STRAND].isin([strand, "."])).to_numpy()
            if keep.any():
                out[contig, strand] = (
                    parts[names.START].to_numpy()[keep].astype(np.int64),
                    parts[names.END].to_numpy()[keep].astype(np.int64),
                    parts["Frame"].to_numpy()[keep].astype(np.int64),
                    element.to_numpy()[keep].astype(np.int64),
                )
    return out
