"""Counting engine: every feature x concept x threshold in one streaming pass.

For each chunk of positions the concepts present at each position form a *pattern*
(a bit set, with the position's split).  Non-zero activations are binned into levels
on a grid of fractions of each feature's scale, and one ``bincount`` over
(pattern, feature, level) gives all counts at once; a small matrix product turns
patterns into concepts.  Element hits keep, per element and feature, the highest
level reached (``np.maximum.at``).  Nothing loops over positions or features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ..errors import GenointerpError
from ._splits import BlockSplit

DEFAULT_FRACTIONS = (0.0, 0.15, 0.3, 0.5, 0.6, 0.8)
RESOLUTION = 20  # levels per feature scale: thresholds and AUROC live on this grid
MAX_CONCEPTS = 56  # concept bits + split fit one uint64 pattern key


def threshold_table(scale: np.ndarray, resolution: int = RESOLUTION) -> np.ndarray:
    """(n_features, resolution) float32: ``thr[f, j-1] = float32(j / resolution) * scale[f]``.

    A non-zero activation ``v`` of feature ``f`` reaches fraction ``j / resolution``
    when ``v >= thr[f, j-1]`` (float32); fraction 0 means ``v > 0``.
    """
    grid = (np.arange(1, resolution + 1) / resolution).astype(np.float32)
    return np.asarray(scale, dtype=np.float32)[:, None] * grid[None, :]


def levels(values: np.ndarray, features: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Level 1..R+1 of non-zero activations: 1 + the number of grid thresholds reached.

    Exact against ``values >= table[features]``: a fast estimate from one multiply,
    then a one-step correction on each side against the float32 thresholds.
    """
    resolution = table.shape[1]
    v = values.astype(np.float32, copy=False)
    scale = table[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(scale > 0, resolution / scale, np.inf).astype(np.float32)
        approx = np.minimum(v * inv[features], resolution)
    a = approx.astype(np.int64)
    padded = np.concatenate(
        [
            np.full((len(table), 1), -np.inf, np.float32),
            table,
            np.full((len(table), 1), np.inf, np.float32),
        ],
        axis=1,
    ).ravel()
    base = features.astype(np.int64) * (resolution + 2)
    a += v >= padded[base + a + 1]
    a -= v < padded[base + a]
    return (a + 1).astype(np.uint8)


@dataclass
class AlignmentCounts:
    """Counts of one feature source against one set of concept tracks.

    Arrays (``S`` splits, ``C`` concepts, ``F`` features, ``L = resolution + 1`` levels;
    level ``l`` means an activation at least ``(l - 1) / resolution`` of the scale,
    level 1 any non-zero activation):

    * ``tp[s, c, f, l]``: positions of concept ``c`` where feature ``f`` is at level ``l``
    * ``active[s, f, l]``: positions where ``f`` is at level ``l``
    * ``element_best[s, c, f, l]``: elements of ``c`` whose best position reaches level ``l``
    * ``positives[s, c]``, ``elements[s, c]``, ``positions[s]``
    """

    concepts: list[str]
    splits: tuple[str, ...]
    scale: np.ndarray
    resolution: int
    tp: np.ndarray
    active: np.ndarray
    element_best: np.ndarray
    positives: np.ndarray
    elements: np.ndarray
    positions: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return len(self.scale)

    def split_index(self, split: str) -> int:
        if split not in self.splits:
            raise GenointerpError(f"no split {split!r}; these counts have {self.splits}")
        return self.splits.index(split)

    def level_of(self, fraction: float) -> int:
        """Level that a threshold at ``fraction`` of the scale corresponds to."""
        j = fraction * self.resolution
        if abs(j - round(j)) > 1e-9 or not 0 <= fraction <= 1:
            raise GenointerpError(
                f"threshold fraction {fraction} is not on the 1/{self.resolution} grid. "
                f"Fix: use multiples of {1 / self.resolution:g} (or raise the resolution)"
            )
        return int(round(j)) + 1

    def at_least(self, split: str, fractions: Sequence[float]) -> dict[str, np.ndarray]:
        """Counts at thresholds ``fractions``: tp (C, F, T), active (F, T), hits (C, F, T)."""
        s = self.split_index(split)
        idx = [self.level_of(f) - 1 for f in fractions]

        def ge(a):
            return np.flip(np.cumsum(np.flip(a, -1), -1), -1)[..., idx]

        return {
            "tp": ge(self.tp[s]),
            "active": ge(self.active[s]),
            "hits": ge(self.element_best[s]),
        }

    def auroc(self, split: str) -> np.ndarray:
        """(C, F) AUROC of the activation (on the level grid; ties count half)."""
        s = self.split_index(split)
        pos = self.tp[s].astype(np.float64)  # (C, F, L)
        neg = self.active[s][None].astype(np.float64) - pos
        n_pos = self.positives[s].astype(np.float64)[:, None]
        n_neg = self.positions[s] - n_pos
        pos0 = n_pos - pos.sum(-1)
        neg0 = n_neg - neg.sum(-1)
        pos = np.concatenate([pos0[..., None], pos], -1)
        neg = np.concatenate([neg0[..., None], neg], -1)
        below = np.cumsum(neg, -1) - neg
        with np.errstate(invalid="ignore", divide="ignore"):
            return (pos * (below + 0.5 * neg)).sum(-1) / (n_pos * n_neg)


def count(
    source,
    tracks,
    *,
    scale: np.ndarray | None = None,
    split=None,
    concepts: Sequence[str] | None = None,
    resolution: int = RESOLUTION,
    chunk_rows: int = 1 << 18,
    progress: bool = False,
) -> AlignmentCounts:
    """Stream ``source`` once and count every feature against every concept.

    Parameters
    ----------
    source
        Feature activations: a :class:`~genointerp.features.FeatureActivations` or any
        object with ``contigs``, ``strands``, ``n_features`` and ``chunks(rows)``.
    tracks
        :class:`~genointerp.concepts.ConceptTracks` of the same genome.
    scale
        Per-feature scale the threshold fractions apply to (default: the source's
        per-feature max).  Pass the validation genome's scale when scoring another genome.
    split
        :class:`BlockSplit` (default: alternating 100 kb blocks) or :class:`WholeSplit`.
    """
    split = split or BlockSplit()
    concepts = list(tracks.concepts if concepts is None else concepts)
    if len(concepts) > MAX_CONCEPTS:
        raise GenointerpError(
            f"{len(concepts)} concepts; one pass handles up to {MAX_CONCEPTS}. "
            "Fix: pass concepts= in groups"
        )
    scale = np.asarray(source_scale(source) if scale is None else scale, dtype=np.float32)
    n_features = len(scale)
    _check_genome(source, tracks)
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
    bar = tqdm(total=source.n_positions, unit="nt", disable=not progress, desc="align")
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
        bar.update(chunk.end - chunk.start)
    bar.close()
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


def source_scale(source) -> np.ndarray:
    if hasattr(source, "scale"):
        return source.scale() if callable(source.scale) else source.scale
    return source.stats.max


def _check_genome(source, tracks) -> None:
    mine = getattr(source, "genome_checksum", "")
    if mine and tracks.genome_checksum and mine != tracks.genome_checksum:
        raise GenointerpError(
            f"feature activations of genome {mine[:12]} against concept tracks of genome "
            f"{tracks.genome_checksum[:12]}. Fix: build the tracks on the genome that was encoded"
        )
    missing = [c for c in source.contigs if c not in tracks.lengths]
    if missing:
        raise GenointerpError(
            f"contigs {missing[:3]} of the activations are not in the concept tracks "
            f"({', '.join(list(tracks.lengths)[:3])}...). Fix: build the tracks on the same genome"
        )


def _pattern_keys(masks: np.ndarray, split_ids: np.ndarray, n_splits: int) -> np.ndarray:
    key = np.zeros(masks.shape[1], dtype=np.uint64)
    for c in range(masks.shape[0]):
        key |= masks[c].astype(np.uint64) << np.uint64(c)
    return key * np.uint64(n_splits) + split_ids.astype(np.uint64)


def _incidence(keys: np.ndarray, n_splits: int, n_concepts: int):
    split = (keys % np.uint64(n_splits)).astype(np.int64)
    bits = keys // np.uint64(n_splits)
    has = ((bits[None, :] >> np.arange(n_concepts, dtype=np.uint64)[:, None]) & np.uint64(1)) == 1
    z = np.zeros((n_splits, n_concepts, len(keys)))
    y = np.zeros((n_splits, len(keys)))
    for s in range(n_splits):
        z[s] = has & (split == s)[None, :]
        y[s] = split == s
    return z.reshape(n_splits * n_concepts, -1), y


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
