"""Order-k Markov baselines for bits per nucleotide, fitted with numpy counts.

Used by ``lm train`` and the model card to put the built-in model's held-out
loss beside the classical alternatives fitted on exactly the same training data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._base import N_INDEX


def kmer_index(tokens: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the k-mer ending at each position ``p >= k - 1``, and whether it holds an N."""
    n = len(tokens) - k + 1
    if n <= 0:
        return np.empty(0, np.int64), np.empty(0, bool)
    index = np.zeros(n, dtype=np.int64)
    has_n = np.zeros(n, dtype=bool)
    for j in range(k):
        part = tokens[j : j + n]
        index = index * 4 + np.minimum(part, 3)
        has_n |= part == N_INDEX
    return index, has_n


class MarkovModel:
    """An order-``k`` Markov chain with add-``alpha`` smoothing.

    ``fit`` on token arrays (0..3 for A C G T, 4 for N); ``bits`` on another.
    """

    def __init__(self, order: int, alpha: float = 0.5) -> None:
        if not 0 <= order <= 13:
            raise ValueError(f"order must be in 0..13, got {order}")
        self.order = order
        self.alpha = alpha
        self.counts = np.zeros(4 ** (order + 1), dtype=np.int64)

    def fit(self, segments: Sequence[np.ndarray]) -> MarkovModel:
        """Count (k+1)-mers in every segment (pass both strands yourself)."""
        for tokens in segments:
            index, has_n = kmer_index(tokens, self.order + 1)
            self.counts += np.bincount(index[~has_n], minlength=len(self.counts))
        return self

    def log2_prob(self, tokens: np.ndarray) -> np.ndarray:
        """log2 P(token[p] | previous k) at each ``p >= k``; NaN where an N is involved."""
        index, has_n = kmer_index(tokens, self.order + 1)
        table = self.counts.reshape(-1, 4).astype(np.float64) + self.alpha
        log_p = np.log2(table / table.sum(axis=1, keepdims=True)).ravel()
        out = log_p[index]
        out[has_n] = np.nan
        return out


def markov_bits(
    train: Sequence[np.ndarray] | dict[int, np.ndarray],
    test: Sequence[np.ndarray],
    *,
    orders: Sequence[int] = range(13),
    alphas: Sequence[float] = (0.1, 0.5, 1.0),
    skip: int = 16,
) -> dict[int, float]:
    """Mean bits per nucleotide on ``test`` of the best-smoothed order-k chain, for each k.

    ``train`` is token segments, or the counts :func:`markov_counts` made from them
    (to score several test sets without counting again).  Every test segment is
    scored from position ``skip`` on (so every order sees the same positions);
    positions whose target or context holds an N are left out.  For each order the
    best ``alpha`` on the test data is kept, which flatters the baseline, never the
    neural model.
    """
    counts = train if isinstance(train, dict) else markov_counts(train, orders)
    result: dict[int, float] = {}
    for order in orders:
        if order >= skip:
            raise ValueError(f"order {order} needs skip > order, got skip={skip}")
        best = np.inf
        for alpha in alphas:
            model = MarkovModel(order, alpha)
            model.counts = counts[order]
            bits = [-model.log2_prob(seg)[skip - order :] for seg in test]
            best = min(best, float(np.nanmean(np.concatenate(bits))))
        result[order] = best
    return result


def markov_counts(train: Sequence[np.ndarray], orders: Sequence[int]) -> dict[int, np.ndarray]:
    """(k+1)-mer counts of ``train`` for every order k: what :func:`markov_bits` fits."""
    return {order: MarkovModel(order).fit(train).counts for order in orders}
