"""Match the features of two SAEs (two seeds, layers, sizes or models) on one genome.

Both SAEs' activations are read at the same sampled positions
(:func:`~genointerp.rank.sample_activity` with values), and every pair of features gets
the Pearson correlation of their activations there (zeros included).  Each feature of the
first SAE is matched to the second SAE's feature it correlates with most; the match is
*mutual* when that feature's own best match is the first one.  Where the two SAEs read the
same space (same model, layer and width), the decoder cosine of each matched pair is given
too.  A feature whose best correlation is below the cut-off (0.7 by default) has no
counterpart in the other SAE: trained with another seed, that makes it a candidate for noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._atomic import atomic_open
from ..errors import GenointerpError
from ._families import sample_activity

STABLE_CORRELATION = 0.7


@dataclass
class FeatureMatch:
    """Per feature of the first SAE: its best match in the second."""

    table: pd.DataFrame
    """``feature``, ``density``, ``match``, ``correlation``, ``mutual``, ``decoder_cosine``
    (NaN where the spaces differ), ``stable`` (correlation >= the cut-off)."""
    positions: int
    """Sampled positions the correlations are computed on."""
    cutoff: float = STABLE_CORRELATION

    def summary(self, classes: pd.Series | None = None) -> pd.DataFrame:
        """Alive features and how many have a stable match, per class (``classes`` indexed
        by feature, e.g. the catalog's ``class`` column) or overall."""
        alive = self.table[self.table["density"] > 0]
        if classes is None:
            groups = [("all", alive)]
        else:
            groups = alive.groupby(classes.reindex(alive["feature"]).to_numpy())
        rows = [
            {
                "class": name,
                "features": len(group),
                "stable": int(group["stable"].sum()),
                "stable_fraction": float(group["stable"].mean()) if len(group) else np.nan,
                "mutual": int((group["stable"] & group["mutual"]).sum()),
                "median_correlation": float(group["correlation"].median()),
            }
            for name, group in groups
        ]
        return pd.DataFrame(rows)

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        with atomic_open(path) as handle:
            self.table.to_csv(handle, sep="\t", index=False, float_format="%.4f")
        return path


def correlations(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    """Pearson correlation of every column of ``a`` with every column of ``b`` (same rows),
    a dense (a columns, b columns) array; 0 where a column is constant."""
    if a.shape[0] != b.shape[0]:
        raise GenointerpError(f"the samples have {a.shape[0]} and {b.shape[0]} rows")
    n = a.shape[0]
    mean_a, mean_b = _mean(a), _mean(b)
    sd_a = np.sqrt(np.maximum(_mean(a.multiply(a)) - mean_a**2, 0))
    sd_b = np.sqrt(np.maximum(_mean(b.multiply(b)) - mean_b**2, 0))
    cross = (a.T @ b).toarray() / n  # E[ab]
    cov = cross - np.outer(mean_a, mean_b)
    denom = np.outer(sd_a, sd_b)
    return np.divide(cov, denom, out=np.zeros_like(cov), where=denom > 0)


def match_features(
    first,
    second,
    *,
    decoders: tuple[np.ndarray, np.ndarray] | None = None,
    positions: int = 1 << 19,
    stretches: int = 64,
    cutoff: float = STABLE_CORRELATION,
) -> FeatureMatch:
    """Match every feature of ``first`` to ``second`` (two
    :class:`~genointerp.features.FeatureActivations` of one genome) by activation
    correlation; ``decoders`` (each SAE's ``W_dec``, (d_sae, d_in)) add the decoder cosine
    of each matched pair when both read the same space.
    """
    if first.contigs != second.contigs or list(first.strands) != list(second.strands):
        raise GenointerpError(
            f"{getattr(first, 'path', 'the first')} and {getattr(second, 'path', 'the second')} "
            "cover different contigs or strands: matching "
            "needs both SAEs encoded on one genome. Fix: encode both on the same genome"
        )
    a = sample_activity(first, positions, stretches, values=True)
    b = sample_activity(second, positions, stretches, values=True)
    corr = correlations(a, b)
    best = corr.argmax(1)
    back = corr.argmax(0)
    table = pd.DataFrame(
        {
            "feature": np.arange(corr.shape[0]),
            "density": np.asarray((a > 0).mean(0)).ravel(),
            "match": best,
            "correlation": corr[np.arange(corr.shape[0]), best],
        }
    )
    table["mutual"] = back[best] == table["feature"].to_numpy()
    table["decoder_cosine"] = _decoder_cosine(decoders, best)
    table["stable"] = table["correlation"] >= cutoff
    return FeatureMatch(table, a.shape[0], cutoff)


def _decoder_cosine(decoders, best: np.ndarray) -> np.ndarray:
    if decoders is None:
        return np.full(len(best), np.nan)
    first, second = (np.asarray(d, dtype=np.float64) for d in decoders)
    if first.shape[1] != second.shape[1]:
        return np.full(len(best), np.nan)  # different spaces: no cosine
    first = first / np.maximum(np.linalg.norm(first, axis=1, keepdims=True), 1e-12)
    second = second / np.maximum(np.linalg.norm(second, axis=1, keepdims=True), 1e-12)
    return np.einsum("ij,ij->i", first, second[best])


def _mean(m: sp.spmatrix) -> np.ndarray:
    return np.asarray(m.mean(0), dtype=np.float64).ravel()


__all__ = ["STABLE_CORRELATION", "FeatureMatch", "correlations", "match_features"]
