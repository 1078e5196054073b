"""Top activating sites of features, their sequence context, and distances to elements."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import names
from ..features._stats import BINS_PER_DECADE, LOG_LO, N_BINS

_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def top_sites(features, features_wanted, split, n: int = 50, chunk_rows: int = 1 << 20):
    """Up to ``n`` strongest positions of each wanted feature in each split (one pass).

    A per-feature cut from the statistics' histogram keeps only values in the top bins:
    at least ``2n`` over both splits, so one split may get fewer than ``n`` sites but the
    two together get at least ``n``.  After every chunk only the best ``n`` per feature
    and split are kept, so memory stays bounded even when values pile up in one bin.
    """
    stats = features.stats
    wanted = np.zeros(features.d_sae, dtype=bool)
    wanted[np.asarray(list(features_wanted), dtype=np.int64)] = True
    # lowest bin edge with at least 2n (both splits) activations at or above it
    above = np.cumsum(stats.hist[:, ::-1], axis=1)[:, ::-1]
    enough = above >= 2 * n
    first = np.where(enough.any(1), N_BINS - 1 - np.argmax(enough[:, ::-1], axis=1), 0)
    cut = (10.0 ** (LOG_LO + first / BINS_PER_DECADE)).astype(np.float32)
    best = None
    for chunk in features.chunks(chunk_rows):
        feats = chunk.indices.astype(np.int64)
        values = chunk.values.astype(np.float32)
        keep = wanted[feats] & (values >= cut[feats])
        if not keep.any():
            continue
        feats, values = feats[keep], values[keep]
        pos = chunk.start + chunk.rows[keep]
        where = split.of(chunk.contig, pos)
        top = _head(feats, where, values, n)  # this chunk's best n per feature and split
        part = pd.DataFrame(
            {
                "feature": feats[top],
                "contig": chunk.contig,
                "strand": chunk.strand,
                "position": pos[top],
                "activation": values[top],
                "split": where[top],
            }
        )
        best = _best(part if best is None else pd.concat([best, part], ignore_index=True), n)
    if best is None:
        return pd.DataFrame(
            columns=["feature", "contig", "strand", "position", "activation", "split"]
        )
    return best


def _head(feats, where, values, n: int) -> np.ndarray:
    """Indices of the ``n`` highest values per (feature, split) group."""
    order = np.lexsort((-values, where, feats))
    group = feats[order] * 256 + where[order]
    starts = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.append(starts, len(order))))
    return order[rank < n]


def _best(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` highest activations per feature and split (ties: earlier rows first)."""
    table = table.sort_values(
        ["feature", "split", "activation"], ascending=[True, True, False], kind="stable"
    )
    return table.groupby(["feature", "split"], sort=False).head(n).reset_index(drop=True)


def add_context(sites: pd.DataFrame, genome, flank: int = 10) -> pd.DataFrame:
    """Sequence ``[p - flank, p + flank]`` on '+' (``context_plus``) and its reverse
    complement (``context_minus``); ``context`` reads along the pass that fired."""
    plus = []
    for contig, pos in zip(sites["contig"], sites["position"], strict=True):
        length = genome.lengths[contig]
        lo, hi = int(pos) - flank, int(pos) + flank + 1
        seq = genome.fetch(contig, max(lo, 0), min(hi, length))
        seq = "N" * max(0, -lo) + seq + "N" * max(0, hi - length)
        plus.append(seq.upper())
    out = sites.copy()
    out["context_plus"] = plus
    out["context_minus"] = [revcomp(s) for s in plus]
    out["context"] = np.where(out["strand"] == "+", out["context_plus"], out["context_minus"])
    return out


def nearest_distances(sites: pd.DataFrame, tracks, concepts) -> pd.DataFrame:
    """Per site, distance (nt) to the nearest element of each concept on the same strand
    (either strand for unstranded concepts); 0 inside an element."""
    out = {}
    for concept in concepts:
        parts = tracks.parts(concept)
        dist = np.full(len(sites), np.inf)
        for (contig, strand), idx in sites.groupby(["contig", "strand"]).indices.items():
            sel = parts[
                (parts[names.CHROM] == contig)
                & parts[names.STRAND].isin([strand, names.UNSTRANDED])
            ]
            if not len(sel):
                continue
            starts = np.sort(sel[names.START].to_numpy())
            ends = np.sort(sel[names.END].to_numpy())
            pos = sites["position"].to_numpy()[idx]
            # distance to the nearest start at or after, and the nearest end at or before
            i = np.searchsorted(starts, pos, side="right")
            after = np.where(i < len(starts), starts[np.minimum(i, len(starts) - 1)] - pos, np.inf)
            j = np.searchsorted(ends, pos, side="right") - 1
            before = np.where(j >= 0, pos - ends[np.maximum(j, 0)] + 1, np.inf)
            inside = (i - 1 - np.searchsorted(ends, pos, side="right")) >= 0
            dist[idx] = np.where(inside, 0, np.minimum(after, before))
        out[concept] = dist
    return pd.DataFrame(out, index=sites.index)
