"""Whole-genome position arrays for the few features that need them (feature sets, null).

Positions are numbered strand-major: ``g = strand_index * genome_length + contig_offset + p``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._counts import levels, threshold_table


@dataclass
class GenomeIndex:
    contigs: dict[str, int]
    strands: list[str]

    @property
    def offsets(self) -> dict[str, int]:
        starts = np.concatenate([[0], np.cumsum(list(self.contigs.values()))[:-1]])
        return dict(zip(self.contigs, starts.tolist(), strict=True))

    @property
    def genome_length(self) -> int:
        return int(sum(self.contigs.values()))

    @property
    def size(self) -> int:
        return self.genome_length * len(self.strands)

    def base(self, contig: str, strand: str) -> int:
        return self.strands.index(strand) * self.genome_length + self.offsets[contig]

    def layout(self, fn) -> np.ndarray:
        """Concatenate ``fn(contig, strand, length)`` over the genome in index order."""
        return np.concatenate([fn(c, s, n) for s in self.strands for c, n in self.contigs.items()])


def collect(source, features, scale, resolution: int, index: GenomeIndex, chunk_rows=1 << 20):
    """Non-zero positions and levels of ``features``: {feature: (positions, levels)}."""
    features = np.asarray(sorted(set(int(f) for f in features)), dtype=np.int64)
    wanted = np.zeros(len(scale), dtype=bool)
    wanted[features] = True
    table = threshold_table(scale, resolution)
    parts = {int(f): ([], []) for f in features}
    for chunk in source.chunks(chunk_rows):
        feats = chunk.indices.astype(np.int64)
        keep = wanted[feats]
        if not keep.any():
            continue
        rows = chunk.rows[keep]
        feats = feats[keep]
        lvl = levels(chunk.values[keep], feats, table)
        gpos = index.base(chunk.contig, chunk.strand) + chunk.start + rows.astype(np.int64)
        order = np.argsort(feats, kind="stable")
        feats, gpos, lvl = feats[order], gpos[order], lvl[order]
        bounds = np.searchsorted(feats, features, side="left")
        ends = np.searchsorted(feats, features, side="right")
        for f, lo, hi in zip(features.tolist(), bounds, ends, strict=True):
            if hi > lo:
                parts[f][0].append(gpos[lo:hi])
                parts[f][1].append(lvl[lo:hi])
    return {
        f: (
            np.concatenate(p) if p else np.zeros(0, np.int64),
            np.concatenate(v) if v else np.zeros(0, np.uint8),
        )
        for f, (p, v) in parts.items()
    }


class ConceptArrays:
    """Per-concept whole-genome arrays: membership, element id, and the split of each
    position and element; built on first use."""

    def __init__(self, tracks, index: GenomeIndex, split) -> None:
        self.tracks, self.index, self.split = tracks, index, split
        self.split_ids = index.layout(lambda c, s, n: split.ids(c, n))
        self._cache: dict[str, tuple] = {}

    def get(self, concept: str):
        if concept not in self._cache:
            tracks = self.tracks
            mask = self.index.layout(lambda c, s, n: tracks.mask(c, s, 0, n, [concept])[0])
            eids = self.index.layout(lambda c, s, n: tracks.element_ids(concept, c, s, 0, n))
            table = tracks.elements(concept)
            mid = ((table["Start"] + table["End"]) // 2).to_numpy()
            esplit = np.zeros(len(table), dtype=np.uint8)
            for contig, rows in table.groupby("Chromosome", sort=False).indices.items():
                esplit[rows] = self.split.of(contig, mid[rows])
            self._cache = {concept: (mask, eids, esplit)}  # keep one: bounded memory
        return self._cache[concept]

    def element_f1(self, active: np.ndarray, concept: str, split: int) -> dict:
        """Scores of a boolean whole-genome activity on one split (as the counting engine)."""
        mask, eids, esplit = self.get(concept)
        in_split = self.split_ids == split
        on = active & in_split
        tp = int(np.count_nonzero(on & mask))
        n_active = int(np.count_nonzero(on))
        positives = int(np.count_nonzero(mask & in_split))
        hit = np.zeros(len(esplit), dtype=bool)
        hit[eids[active & (eids >= 0)]] = True
        n_elements = int(np.count_nonzero(esplit == split))
        hits = int(np.count_nonzero(hit & (esplit == split)))
        precision = tp / n_active if n_active else 0.0
        recall = tp / positives if positives else 0.0
        element_recall = hits / n_elements if n_elements else 0.0
        return {
            "precision": precision,
            "recall": recall,
            "element_recall": element_recall,
            "element_f1": _f1(precision, element_recall),
            "f1": _f1(precision, recall),
            "tp": tp,
            "active": n_active,
            "hits": hits,
        }


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def indicator(size: int, positions: np.ndarray) -> np.ndarray:
    out = np.zeros(size, dtype=bool)
    out[positions] = True
    return out
