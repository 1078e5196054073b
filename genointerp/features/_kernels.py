"""Compiled (numba) inner loops of encoding: TopK selection and neighbour counts.

numba comes with scanpy (a dependency); the kernels compile on first use and are cached
beside this module (or in numba's user cache when the package folder is read-only).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def topk_positive(pre, k, cols, vals, tie):  # pragma: no cover - compiled
    """The positive values among the ``k`` largest of each row of ``pre`` (n, d), by column.

    Writes ``cols``/``vals`` (n, k): the selected columns in increasing order and their
    values, padded with column ``d`` and value 0; ``tie[r]`` is True where the k-th
    largest positive value of row r is tied with one left out (or the row has a NaN):
    there the choice is ambiguous and the caller decides (it asks ``torch.topk``).

    The k-th largest value is bounded below by the smallest of the maxima of k groups
    of columns (k distinct values reach it), so only values at or above that bound
    and above 0 are candidates (about 4k of a row of Gaussian values); the k-th largest
    of those is found by quickselect.
    """
    n, d = pre.shape
    blocks = min(n, 64)  # rows are shared out in blocks, each with its own buffers
    for block in numba.prange(blocks):
        cand = np.empty(d, np.int64)
        values = np.empty(d, np.float32)
        work = np.empty(d, np.float32)
        for r in range(block * n // blocks, (block + 1) * n // blocks):
            row = pre[r]
            cols[r, :] = d
            vals[r, :] = 0.0
            bound = _group_bound(row, k)
            m = 0
            nan = False
            for j in range(d):  # branch-free: most values are no candidates
                v = row[j]
                cand[m] = j
                m += (v >= bound) & (v > 0)
                nan |= v != v  # torch.topk ranks NaN first: leave such rows to it
            tie[r] = nan
            for i in range(m):
                values[i] = work[i] = row[cand[i]]
            kth = _select(work, m, m - k) if m > k else 0.0
            out = 0
            for i in range(m):
                if values[i] >= kth:
                    if out == k:  # more than k reach the k-th value: a tie across the cut
                        tie[r] = True
                        break
                    cols[r, out] = cand[i]
                    vals[r, out] = values[i]
                    out += 1


@numba.njit(fastmath=True, inline="always")
def _group_bound(row, k):  # pragma: no cover - compiled
    """The smallest of the maxima of k contiguous groups of ``row`` (vectorised; NaN-blind)."""
    d = len(row)
    size = d // k
    bound = np.inf
    for g in range(k):
        top = -np.inf
        for j in range(g * size, d if g == k - 1 else (g + 1) * size):
            top = max(top, row[j])
        bound = min(bound, top)
    return bound


@numba.njit(inline="always")
def _select(work, m, target):  # pragma: no cover - compiled
    """The value of rank ``target`` (ascending) of ``work[:m]``, reordering it (quickselect)."""
    lo, hi = 0, m - 1
    while lo < hi:
        a, b, c = work[lo], work[(lo + hi) // 2], work[hi]
        pivot = max(min(a, b), min(max(a, b), c))  # median of three
        i, j = lo, hi
        while i <= j:  # Hoare partition: lo..j <= pivot <= i..hi
            while work[i] < pivot:
                i += 1
            while work[j] > pivot:
                j -= 1
            if i <= j:
                work[i], work[j] = work[j], work[i]
                i += 1
                j -= 1
        if target <= j:
            hi = j
        elif target >= i:
            lo = i
        else:  # between the two parts: equal to the pivot
            return pivot
    return work[target]


@numba.njit(cache=True)
def lag_pairs(indptr, indices, first, lag, d_sae):  # pragma: no cover - compiled
    """Per feature, rows p >= ``first`` active at f whose row p - lag is active at f too.

    ``indptr``/``indices``: CSR rows with increasing columns in each row; rows before
    ``first`` are only looked back at (the tail of the previous batch).
    """
    out = np.zeros(d_sae, np.int64)
    for p in range(max(first, lag), len(indptr) - 1):
        a, a_end = indptr[p], indptr[p + 1]
        b, b_end = indptr[p - lag], indptr[p - lag + 1]
        while a < a_end and b < b_end:  # merge two sorted lists
            if indices[a] == indices[b]:
                out[indices[a]] += 1
                a += 1
                b += 1
            elif indices[a] < indices[b]:
                a += 1
            else:
                b += 1
    return out
