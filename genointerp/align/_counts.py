"""Counting engine: every feature x concept x threshold in one streaming pass.

For each chunk of positions the concepts present at each position form a *pattern*
(a bit set, with the position's split); each pattern lists the (split, concept) counts
its positions add to.  One compiled pass over the chunk's non-zero activations
(:func:`~genointerp.align._kernels.count_chunk`, split by feature between threads) bins
each into a level on a grid of fractions of its feature's scale, adds 1 to the counts of
its row's pattern, and raises the best level of the row's elements.  Elements are held
only while open (:class:`~genointerp.align._elements.OpenElements`), so memory follows
the features and concepts, not the genome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
from tqdm.auto import tqdm

from ..errors import GenointerpError
from ._elements import OpenElements
from ._kernels import add_counts, count_chunk, row_keys
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
    _check_genome(source, tracks)
    n_splits, n_concepts, n_features = len(split.names), len(concepts), len(scale)
    tally = _Tally(scale, resolution, n_splits, n_concepts)
    elements = OpenElements(tracks, concepts, split, source.contigs, source.strands, n_features)
    element_best = np.zeros((n_splits, n_concepts, n_features, resolution + 1), dtype=np.int64)
    positives = np.zeros((n_splits, n_concepts), dtype=np.int64)
    positions = np.zeros(n_splits, dtype=np.int64)
    split_ids = {c: split.ids(c, n) for c, n in source.contigs.items()}
    bar = tqdm(total=source.n_positions, unit="nt", disable=not progress, desc="align")
    for chunk in _stretches(source, chunk_rows):
        ids = elements.ids(chunk.contig, chunk.strand, chunk.start, chunk.end)  # (n, C)
        key = row_keys(ids, split_ids[chunk.contig][chunk.start : chunk.end], n_splits)
        keys, pattern = np.unique(key, return_inverse=True)
        z = _incidence(keys, n_splits, n_concepts)  # (S*C, P), (S, P)
        per_pattern = np.bincount(pattern, minlength=len(keys))
        positives += (z[0] @ per_pattern).reshape(n_splits, n_concepts).astype(np.int64)
        positions += (z[1] @ per_pattern).astype(np.int64)
        el_count, el_slot = elements.open(ids)
        tally.add(chunk, pattern, _targets(z, n_concepts), el_count, el_slot, elements)
        elements.read(ids, element_best)
        bar.update(chunk.end - chunk.start)
    bar.close()
    elements.close_all(element_best)
    tp, active = tally.totals()
    return AlignmentCounts(
        concepts=concepts,
        splits=tuple(split.names),
        scale=scale,
        resolution=resolution,
        tp=tp,
        active=active,
        element_best=element_best,
        positives=positives,
        elements=elements.per_split(n_splits),
        positions=positions,
    )


class _Tally:
    """``tp`` (S, C, F, L) and ``active`` (S, F, L) counts, filled by the compiled pass.

    The pass counts into ``acc`` (F, L, S * (C + 1)) int32, where one non-zero's
    increments share a cache line or two (slot ``s * (C + 1) + C`` is split ``s``'s
    ``active``), and ``acc`` is added to the int64 totals at the end, or before any
    count could pass 2^31 - 1.
    """

    def __init__(self, scale: np.ndarray, resolution: int, n_splits: int, n_concepts: int):
        table = threshold_table(scale, resolution)
        n_features, n_levels = len(scale), resolution + 1
        with np.errstate(divide="ignore"):
            self.inv = np.where(scale > 0, resolution / scale, np.inf).astype(np.float32)
        low = np.full((n_features, 1), -np.inf, np.float32)
        self.padded = np.concatenate([low, table, np.full_like(low, np.inf)], axis=1)
        self.acc = np.zeros((n_features, n_levels, n_splits * (n_concepts + 1)), np.int32)
        self.tp = np.zeros((n_splits, n_concepts, n_features, n_levels), np.int64)
        self.active = np.zeros((n_splits, n_features, n_levels), np.int64)
        self.rows = 0  # rows counted into acc since it was last emptied

    def add(self, chunk, pattern, targets, el_count, el_slot, elements) -> None:
        n = chunk.end - chunk.start
        if n >= 1 << 24:
            raise GenointerpError(f"chunks of {n:,} rows; at most 2^24 - 1. Fix: lower chunk_rows")
        if self.rows + n > np.iinfo(np.int32).max:
            self._flush()
        self.rows += n
        if len(chunk.values) == 0:
            return
        # per row: pattern (bits 0-23), number of elements (24-31), first slot (32-63)
        first = np.cumsum(el_count) - el_count
        info = (first.astype(np.int64) << 32) | (el_count.astype(np.int64) << 24) | pattern
        count_chunk(
            np.asarray(chunk.indptr, dtype=np.int64),
            chunk.indices,
            chunk.values.astype(np.float32),
            info,
            *targets,
            el_slot,
            self.inv,
            self.padded,
            self.acc,
            elements.best,
            elements.touched,
            numba.get_num_threads(),
        )

    def _flush(self) -> None:
        add_counts(self.acc, self.tp, self.active, numba.get_num_threads())
        self.acc[:] = 0
        self.rows = 0

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        """``tp`` (S, C, F, L) and ``active`` (S, F, L), int64."""
        self._flush()
        self.acc = None
        return self.tp, self.active


def _targets(z, n_concepts: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pattern, the slots of :class:`_Tally`'s ``acc`` its positions add to, as CSR:
    ``s * (C + 1) + c`` for each concept ``c`` present (split ``s``), and
    ``s * (C + 1) + C`` (``active``)."""
    concept_of, split_of = z  # (S*C, P), (S, P)
    n_splits = len(split_of)
    member = np.concatenate(
        [concept_of.reshape(n_splits, n_concepts, -1), split_of[:, None, :]], axis=1
    )  # (S, C + 1, P)
    member = member.reshape(n_splits * (n_concepts + 1), -1).T > 0  # (P, S * (C + 1))
    target = np.nonzero(member)[1]  # row-major: each pattern's slots
    ptr = np.concatenate([[0], np.cumsum(member.sum(1))])
    return ptr.astype(np.int64), target.astype(np.int64)


def _stretches(source, rows: int):
    """The source's chunks, both strands of each stretch together when the source can
    read any range (``chunk(contig, strand, start, end)``): elements of either strand,
    and unstranded ones, then close as the stream passes them, so memory stays flat."""
    if not hasattr(source, "chunk"):
        yield from source.chunks(rows)
        return
    for contig, length in source.contigs.items():
        for start in range(0, length, rows):
            for strand in source.strands:
                yield source.chunk(contig, strand, start, min(start + rows, length))


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
