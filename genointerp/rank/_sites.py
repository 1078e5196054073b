"""Top activating sites of features, their sequence context, and distances to elements."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import names
from ..features._stats import BINS_PER_DECADE, LOG_LO, N_BINS

_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def top_sites(features, features_wanted, split, n: int = 50) -> pd.DataFrame:
    """The ``n`` strongest positions of each wanted feature in each split (one pass).

    A per-feature cut from the statistics' histogram keeps only values in the top
    bins, so the pass stores a few hundred candidates per feature, never a genome.
    """
    stats = features.stats
    wanted = np.zeros(features.d_sae, dtype=bool)
    wanted[np.asarray(list(features_wanted), dtype=np.int64)] = True
    # lowest bin edge with at least 2n (both splits) activations at or above it
    above = np.cumsum(stats.hist[:, ::-1], axis=1)[:, ::-1]
    enough = above >= 2 * n
    first = np.where(enough.any(1), N_BINS - 1 - np.argmax(enough[:, ::-1], axis=1), 0)
    cut = (10.0 ** (LOG_LO + first / BINS_PER_DECADE)).astype(np.float32)
    parts = []
    for chunk in features.chunks():
        feats = chunk.indices.astype(np.int64)
        values = chunk.values.astype(np.float32)
        keep = wanted[feats] & (values >= cut[feats])
        if not keep.any():
            continue
        pos = chunk.start + chunk.rows[keep]
        parts.append(
            pd.DataFrame(
                {
                    "feature": feats[keep],
                    "contig": chunk.contig,
                    "strand": chunk.strand,
                    "position": pos,
                    "activation": values[keep],
                    "split": split.of(chunk.contig, pos),
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            columns=["feature", "contig", "strand", "position", "activation", "split"]
        )
    table = pd.concat(parts, ignore_index=True)
    table = table.sort_values(["feature", "split", "activation"], ascending=[True, True, False])
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
