"""The counting engine as it was before the compiled one (commit 598e8b3), for the benchmark.

``benchmarks/align.py --old-fraction`` times it beside :func:`genointerp.align.count` on
the same data in the same run and checks that both give the same counts.  Its
``count`` bins non-zeros with one ``bincount`` over (pattern, feature, level) per chunk
and keeps a dense (elements x features) table of best levels.
"""

from __future__ import annotations

import numpy as np

from genointerp.align import AlignmentCounts
from genointerp.align._counts import (
    RESOLUTION,
    _incidence,
    levels,
    source_scale,
    threshold_table,
)


def _pattern_keys(masks: np.ndarray, split_ids: np.ndarray, n_splits: int) -> np.ndarray:
    key = np.zeros(masks.shape[1], dtype=np.uint64)
    for c in range(masks.shape[0]):
        key |= masks[c].astype(np.uint64) << np.uint64(c)
    return key * np.uint64(n_splits) + split_ids.astype(np.uint64)


def count(source, tracks, *, split, concepts, chunk_rows: int = 1 << 18) -> AlignmentCounts:
    """The old ``gi.align.count`` (scale: the source's; resolution: the default)."""
    resolution = RESOLUTION
    scale = np.asarray(source_scale(source), dtype=np.float32)
    n_features = len(scale)
    table = threshold_table(scale, resolution)
    n_levels = resolution + 1
    n_splits, n_concepts = len(split.names), len(concepts)
    elements = _ElementIndex(tracks, concepts, split)
    tp = np.zeros((n_splits * n_concepts, n_features * n_levels))
    active = np.zeros((n_splits, n_features * n_levels))
    positives = np.zeros((n_splits, n_concepts), dtype=np.int64)
    positions = np.zeros(n_splits, dtype=np.int64)
    best = np.zeros((elements.total, n_features), dtype=np.uint8)
    split_ids = {c: split.ids(c, n) for c, n in source.contigs.items()}
    for chunk in source.chunks(chunk_rows):
        masks = tracks.mask(chunk.contig, chunk.strand, chunk.start, chunk.end, concepts)
        key = _pattern_keys(masks, split_ids[chunk.contig][chunk.start : chunk.end], n_splits)
        keys, pattern = np.unique(key, return_inverse=True)
        z = _incidence(keys, n_splits, n_concepts)  # (S*C, P), (S, P)
        per_pattern = np.bincount(pattern, minlength=len(keys))
        positives += (z[0] @ per_pattern).reshape(n_splits, n_concepts).astype(np.int64)
        positions += (z[1] @ per_pattern).astype(np.int64)
        if len(chunk.values):
            rows = chunk.rows
            feats = chunk.indices.astype(np.int64)
            lvl = levels(chunk.values, feats, table)
            flat = (pattern[rows].astype(np.int64) * n_features + feats) * n_levels + lvl - 1
            hist = np.bincount(flat, minlength=len(keys) * n_features * n_levels)
            hist = hist.reshape(len(keys), -1).astype(np.float64)
            tp += z[0] @ hist
            active += z[1] @ hist
            elements.record(best, chunk, rows, feats, lvl, n_features)
    return AlignmentCounts(
        concepts=concepts,
        splits=tuple(split.names),
        scale=scale,
        resolution=resolution,
        tp=tp.reshape(n_splits, n_concepts, n_features, n_levels).astype(np.int64),
        active=active.reshape(n_splits, n_features, n_levels).astype(np.int64),
        element_best=elements.summarise(best, n_splits, n_levels),
        positives=positives,
        elements=elements.per_split(n_splits),
        positions=positions,
    )


class _ElementIndex:
    """Global element numbering over concepts, and each element's split (by midpoint)."""

    def __init__(self, tracks, concepts: list[str], split) -> None:
        self.tracks, self.concepts = tracks, concepts
        self.offsets, self.split_of = [], []
        total = 0
        for concept in concepts:
            table = tracks.elements(concept)
            self.offsets.append(total)
            total += len(table)
            mid = ((table["Start"] + table["End"]) // 2).to_numpy()
            ids = np.zeros(len(table), dtype=np.uint8)
            for contig, rows in table.groupby("Chromosome", sort=False).indices.items():
                ids[rows] = split.of(contig, mid[rows])
            self.split_of.append(ids)
        self.total = total

    def record(self, best, chunk, rows, feats, lvl, n_features) -> None:
        """Raise ``best[element, feature]`` to the levels seen at the chunk's positions."""
        ids = np.stack(
            [
                self.tracks.element_ids(c, chunk.contig, chunk.strand, chunk.start, chunk.end)
                for c in self.concepts
            ]
        )  # (C, n)
        member = ids >= 0
        if not member.any():
            return
        glob = (ids + np.asarray(self.offsets, dtype=np.int64)[:, None]).T[member.T]
        per_row = member.sum(0)
        ptr = np.concatenate([[0], np.cumsum(per_row)])
        n_per = per_row[rows]
        take = np.repeat(np.arange(len(rows)), n_per)
        within = np.arange(len(take)) - np.repeat(np.cumsum(n_per) - n_per, n_per)
        elem = glob[ptr[rows[take]] + within]
        np.maximum.at(best.ravel(), elem * n_features + feats[take], lvl[take])

    def summarise(self, best, n_splits: int, n_levels: int) -> np.ndarray:
        n_features = best.shape[1]
        out = np.zeros((n_splits, len(self.concepts), n_features, n_levels), dtype=np.int64)
        for c, offset in enumerate(self.offsets):
            block = best[offset : offset + len(self.split_of[c])]
            for s in range(n_splits):
                lv = block[self.split_of[c] == s].astype(np.int64)  # (n_e, F), 0 = never
                flat = lv * n_features + np.arange(n_features)[None, :]
                hist = np.bincount(flat.ravel(), minlength=(n_levels + 1) * n_features)
                out[s, c] = hist.reshape(n_levels + 1, n_features)[1:].T
        return out

    def per_split(self, n_splits: int) -> np.ndarray:
        return np.array(
            [[np.sum(ids == s) for ids in self.split_of] for s in range(n_splits)], dtype=np.int64
        )
