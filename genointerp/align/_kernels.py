"""Compiled (numba) inner loops of the counting engine.

Work is split by feature between the threads, so each count has one writer and the
results do not depend on the number of threads.  numba comes with scanpy (a dependency);
the kernels compile on first use and are cached.
"""

from __future__ import annotations

import numba
import numpy as np

BLOCK = 128  # features per block: a block's counts are 0.9 MB (40 concepts, int32), in L2


@numba.njit(cache=True, parallel=True)
def count_chunk(
    indptr,
    feats,
    values,
    info,
    pat_ptr,
    pat_target,
    el_slot,
    inv,
    padded,
    acc,
    best,
    touched,
    n_threads,
):  # pragma: no cover - compiled
    """Add one chunk's non-zero activations to the counts.

    Row ``r``'s non-zeros are ``feats``/``values[indptr[r]:indptr[r + 1]]`` (float32);
    ``info[r]`` packs its pattern ``p`` (bits 0-23), its number of elements (bits
    24-31) and where their slots start in ``el_slot`` (bits 32-63).  A non-zero of
    feature ``f`` at level index ``a`` (its level minus 1, computed as
    :func:`~genointerp.align._counts.levels` does) adds 1 to ``acc[f, a, t]`` for
    each target ``t`` of its pattern (``pat_target[pat_ptr[p]:pat_ptr[p + 1]]``), and
    raises ``best[s, f]`` to its level for each element slot ``s`` of its row, marking
    ``touched[s, f // BLOCK]``.  ``inv``: resolution / scale per feature; ``padded``:
    (F, R + 2) thresholds with -inf and inf at the ends.  ``n_threads``:
    ``numba.get_num_threads()`` (read outside: inside, it would stop the caching).

    The non-zeros are first regrouped into blocks of :data:`BLOCK` features, so that a
    thread works through one block at a time with its counts in cache.
    """
    n_features, n_levels = acc.shape[0], acc.shape[1]
    cap = np.float32(n_levels - 1)
    start, nz_feat, nz_info, nz_val = _by_block(indptr, feats, values, info, n_features, n_threads)
    n_blocks = len(start) - 1
    for t in numba.prange(n_threads):
        for b in range(t * n_blocks // n_threads, (t + 1) * n_blocks // n_threads):
            for i in range(start[b], start[b + 1]):
                f, v, packed = nz_feat[i], nz_val[i], nz_info[i]
                a = np.int64(min(v * inv[f], cap))  # estimate, then one step each way
                if v >= padded[f, a + 1]:
                    a += 1
                if v < padded[f, a]:
                    a -= 1
                p = packed & 0xFFFFFF
                for j in range(pat_ptr[p], pat_ptr[p + 1]):
                    acc[f, a, pat_target[j]] += 1
                level = np.uint8(a + 1)
                first = packed >> 32
                for j in range(first, first + ((packed >> 24) & 0xFF)):
                    slot = el_slot[j]
                    if best[slot, f] < level:
                        best[slot, f] = level
                        touched[slot, b] = 1


@numba.njit(cache=True, parallel=True)
def _by_block(indptr, feats, values, info, n_features, n_threads):  # pragma: no cover
    """The CSR non-zeros regrouped by block of features (a parallel counting sort).

    Returns ``start`` (blocks + 1) and, for the non-zeros of block ``b`` at
    ``start[b]:start[b + 1]`` (in row order), their feature, their row's ``info`` and
    their value.
    """
    n_rows = len(indptr) - 1
    n_blocks = (n_features + BLOCK - 1) // BLOCK
    counts = np.zeros((n_threads, n_blocks), np.int64)
    for t in numba.prange(n_threads):
        for r in range(t * n_rows // n_threads, (t + 1) * n_rows // n_threads):
            for i in range(indptr[r], indptr[r + 1]):
                counts[t, feats[i] // BLOCK] += 1
    start = np.zeros(n_blocks + 1, np.int64)
    fill = np.empty((n_threads, n_blocks), np.int64)
    for b in range(n_blocks):
        at = start[b]
        for t in range(n_threads):
            fill[t, b] = at
            at += counts[t, b]
        start[b + 1] = at
    nz_feat = np.empty(len(feats), np.int32)
    nz_info = np.empty(len(feats), np.int64)
    nz_val = np.empty(len(feats), np.float32)
    for t in numba.prange(n_threads):
        for r in range(t * n_rows // n_threads, (t + 1) * n_rows // n_threads):
            for i in range(indptr[r], indptr[r + 1]):
                f = feats[i]
                j = fill[t, f // BLOCK]
                nz_feat[j] = f
                nz_info[j] = info[r]
                nz_val[j] = values[i]
                fill[t, f // BLOCK] = j + 1
    return start, nz_feat, nz_info, nz_val


@numba.njit(cache=True, parallel=True)
def close_elements(best, touched, slots, splits, concepts, out, n_threads):  # pragma: no cover
    """Add finished elements to ``out[s, c, f, level - 1]`` and clear their slots.

    Element ``i`` sits in ``best[slots[i]]`` (its best level per feature, 0 = never
    active; only blocks marked in ``touched`` can hold levels) and belongs to split
    ``splits[i]`` and concept ``concepts[i]``.  Block by block, so that the histogram
    rows being filled stay in cache.
    """
    n_features, n_blocks = best.shape[1], touched.shape[1]
    for t in numba.prange(n_threads):
        for b in range(t * n_blocks // n_threads, (t + 1) * n_blocks // n_threads):
            for i in range(len(slots)):
                row, s, c = slots[i], splits[i], concepts[i]
                if not touched[row, b]:
                    continue
                touched[row, b] = 0
                for f in range(b * BLOCK, min((b + 1) * BLOCK, n_features)):
                    level = best[row, f]
                    if level > 0:
                        out[s, c, f, level - 1] += 1
                        best[row, f] = 0


@numba.njit(cache=True, parallel=True)
def add_counts(acc, tp, active, n_threads):  # pragma: no cover - compiled
    """``tp[s, c, f, l] += acc[f, l, s * (C + 1) + c]``, ``active[s, f, l]`` from ``c = C``."""
    n_features, n_levels = acc.shape[0], acc.shape[1]
    n_splits, n_concepts = tp.shape[0], tp.shape[1]
    for t in numba.prange(n_threads):
        for f in range(t * n_features // n_threads, (t + 1) * n_features // n_threads):
            for level in range(n_levels):
                for s in range(n_splits):
                    base = s * (n_concepts + 1)
                    for c in range(n_concepts):
                        tp[s, c, f, level] += acc[f, level, base + c]
                    active[s, f, level] += acc[f, level, base + n_concepts]


@numba.njit(cache=True)
def fill_ids(out, column, start, lo, hi, frame, element, offset):  # pragma: no cover
    """Element index + ``offset`` at each position of ``out[:, column]`` (positions
    ``start..``), parts in order.

    Part ``i`` covers ``[lo[i], hi[i])`` (every third position from ``frame[i]`` when
    ``frame[i] >= 0``); a later part overwrites an earlier one, as in
    :meth:`~genointerp.concepts.ConceptTracks.element_ids`.  The positions covered are
    those of :meth:`~genointerp.concepts.ConceptTracks.mask`.
    """
    end = start + len(out)
    for i in range(len(lo)):
        a, b = max(lo[i], start), min(hi[i], end)
        if a >= b:
            continue
        step = 1
        if frame[i] >= 0:
            a += (frame[i] - a) % 3
            step = 3
        for p in range(a, b, step):
            out[p - start, column] = element[i] + offset


@numba.njit(cache=True)
def row_keys(ids, split_ids, n_splits):  # pragma: no cover - compiled
    """Pattern key of each row: (bit c set where concept c is present) * S + split."""
    keys = np.empty(len(ids), np.uint64)
    for r in range(len(ids)):
        bits = np.uint64(0)
        for c in range(ids.shape[1]):
            if ids[r, c] >= 0:
                bits |= np.uint64(1) << np.uint64(c)
        keys[r] = bits * np.uint64(n_splits) + np.uint64(split_ids[r])
    return keys
