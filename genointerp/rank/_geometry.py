"""The geometry of a concept in the layer: is a feature family's concept a line, clusters or
a cycle?

The layer's activations at positions where a family's features fire are projected on their
first two principal components, and each position gets a label from the concept tracks (for
coding features: the codon position, 1-3; otherwise in or out of the concept).  The shape
is called from three numbers:

- ``separation``: the silhouette of the labels in the 2-D projection (how well the labels
  form their own groups; 0 = mixed, 1 = apart);
- ``line``: the share of the projection's variance on its first axis;
- ``cycle``: for three or more labels whose centroids surround the projection's centre
  (every angular gap between consecutive centroids below 180 degrees) and whose positions'
  angles follow their label (the circular correlation of angle and label order, as the
  fraction of positions closer in angle to their own centroid than to any other).

``cycle`` when the labels are separated and arranged around the centre, ``clusters`` when
they are separated otherwise, ``line`` when one axis carries most of the variance, else
``diffuse``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import GenointerpError

CODON_CONCEPTS = ("codon_pos1", "codon_pos2", "codon_pos3")
SEPARATED = 0.25  # silhouette above which labels count as separate groups
LINE = 0.85  # share of variance on the first axis for a line


@dataclass
class Geometry:
    """Positions of one family in the layer's first two principal components."""

    points: np.ndarray
    """(n, 2) projection."""
    labels: np.ndarray
    """(n,) label of each position (str)."""
    explained: np.ndarray
    """Variance ratio of the two axes among all of the layer's dimensions."""
    separation: float
    line: float
    angular: float
    """Fraction of positions whose angle is closest to their own label's centroid angle."""
    surrounds: bool
    shape: str

    def summary(self) -> dict:
        return {
            "positions": len(self.labels),
            "labels": ",".join(
                f"{k}:{v}" for k, v in zip(*np.unique(self.labels, return_counts=True), strict=True)
            ),
            "pc1": float(self.explained[0]),
            "pc2": float(self.explained[1]),
            "separation": self.separation,
            "line": self.line,
            "angular": self.angular,
            "surrounds": self.surrounds,
            "shape": self.shape,
        }


def family_geometry(
    store,
    layer: str,
    features,
    members,
    tracks,
    concept: str = "codon",
    *,
    positions: int = 20_000,
    seed: int = 0,
) -> Geometry:
    """The geometry of the family ``members`` (feature indices of ``features``) at
    ``layer`` of ``store`` (the activations the SAE read).

    ``concept`` ``codon`` labels each position with its codon position (1-3, or ``-``
    outside coding sequence); any other concept labels in/out of it.
    """
    rng = np.random.default_rng(seed)
    members = np.asarray(list(members), dtype=np.int64)
    chosen = np.zeros(max(int(members.max()) + 1, features.d_sae), dtype=bool)
    chosen[members] = True  # a lookup: far faster than np.isin over every non-zero
    rows, labels = [], []
    names = list(CODON_CONCEPTS) if concept == "codon" else [concept]
    budget = positions
    for contig, length in features.contigs.items():
        for strand in features.strands:
            if budget <= 0:
                break
            chunk = features.chunk(contig, strand)
            hits = np.flatnonzero(chosen[chunk.indices])  # non-zeros of a member, in row order
            where = np.searchsorted(chunk.indptr, hits, side="right") - 1
            where = where[np.concatenate([[True], np.diff(where) > 0])] if len(where) else where
            share = int(positions * length / (_total(features) * len(features.strands)))
            share = min(len(where), share)
            if share == 0:
                continue
            pick = np.sort(rng.choice(where, share, replace=False))
            masks = tracks.mask(contig, strand, 0, length, concepts=names)[:, pick]
            rows.append(_read_rows(store, layer, contig, strand, pick))
            labels.append(_label(masks, concept))
            budget -= share
    if not rows:
        raise GenointerpError(
            f"features {members.tolist()} never fire in {getattr(features, 'path', 'the file')}. "
            "Fix: pick a family with active members"
        )
    return describe(np.concatenate(rows), np.concatenate(labels))


def describe(acts: np.ndarray, labels: np.ndarray) -> Geometry:
    """Project ``acts`` (n, d) on two principal axes and call the shape of ``labels``."""
    centred = acts - acts.mean(0)
    _, sing, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:2].T
    explained = (sing**2 / max((sing**2).sum(), 1e-12))[:2]
    line = float(points[:, 0].var() / max(points.var(0).sum(), 1e-12))
    kept = labels != "-" if (labels != "-").sum() >= 10 else np.ones(len(labels), bool)
    separation = _silhouette(points[kept], labels[kept])
    angular, surrounds = _angles(points[kept], labels[kept])
    if separation >= SEPARATED and surrounds and angular >= 0.6:
        shape = "cycle"
    elif separation >= SEPARATED:
        shape = "clusters"
    elif line >= LINE:
        shape = "line"
    else:
        shape = "diffuse"
    return Geometry(points, labels, explained, separation, line, angular, surrounds, shape)


def _read_rows(store, layer, contig, strand, pick: np.ndarray, block: int = 1 << 20):
    """Activations at the sorted positions ``pick``, read a block at a time."""
    out = []
    for start in range(0, int(pick[-1]) + 1, block):
        inside = pick[(pick >= start) & (pick < start + block)]
        if len(inside):
            end = int(inside[-1]) + 1
            out.append(store.read(layer, contig, strand, start, end)[inside - start])
    return np.concatenate(out).astype(np.float32)


def _label(masks: np.ndarray, concept: str) -> np.ndarray:
    if concept == "codon":
        which = np.where(masks.any(0), masks.argmax(0) + 1, 0)
        return np.where(which > 0, which.astype(str), "-")
    return np.where(masks[0], "in", "out")


def _silhouette(points: np.ndarray, labels: np.ndarray, sample: int = 3000) -> float:
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2 or len(labels) < 10:
        return 0.0
    size = min(sample, len(labels))
    return float(silhouette_score(points, labels, sample_size=size, random_state=0))


def _angles(points: np.ndarray, labels: np.ndarray) -> tuple[float, bool]:
    """Fraction of positions nearest in angle to their own label's centroid, and whether
    three or more centroids surround the centre."""
    names = np.unique(labels)
    if len(names) < 3:
        return 0.0, False
    centre = points.mean(0)
    centroids = np.stack([points[labels == n].mean(0) for n in names]) - centre
    theta = np.arctan2(centroids[:, 1], centroids[:, 0])
    gaps = np.diff(np.sort(np.concatenate([theta, [theta.min() + 2 * np.pi]])))
    surrounds = bool(gaps.max() < np.pi)
    angle = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    distance = np.abs(np.angle(np.exp(1j * (angle[:, None] - theta[None, :]))))
    nearest = names[distance.argmin(1)]
    return float((nearest == labels).mean()), surrounds


def _total(features) -> int:
    return sum(features.contigs.values())


def geometry_table(geometries: dict) -> pd.DataFrame:
    """One row per named :class:`Geometry`."""
    return pd.DataFrame([{"family": name, **g.summary()} for name, g in geometries.items()])


__all__ = ["Geometry", "describe", "family_geometry", "geometry_table"]
