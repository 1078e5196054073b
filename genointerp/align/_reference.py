"""A plain reference: one feature, one threshold, one concept at a time (InterPLM style).

Slow by design and obviously correct; tests and ``benchmarks/align.py`` check the
counting engine against it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def reference_counts(
    dense: dict[tuple[str, str], np.ndarray],
    tracks,
    scale: np.ndarray,
    fractions: Sequence[float],
    split,
    concepts: Sequence[str],
    features: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """Counts per split: ``tp`` (S, C, F, T), ``active`` (S, F, T), ``hits`` (S, C, F, T),
    ``positives`` (S, C), ``elements`` (S, C).  ``dense[(contig, strand)]``: (length, F)."""
    n_features = next(iter(dense.values())).shape[1]
    features = range(n_features) if features is None else features
    n_s, n_c, n_f, n_t = len(split.names), len(concepts), len(features), len(fractions)
    out = {
        "tp": np.zeros((n_s, n_c, n_f, n_t), dtype=np.int64),
        "active": np.zeros((n_s, n_f, n_t), dtype=np.int64),
        "hits": np.zeros((n_s, n_c, n_f, n_t), dtype=np.int64),
        "positives": np.zeros((n_s, n_c), dtype=np.int64),
        "elements": np.zeros((n_s, n_c), dtype=np.int64),
    }
    element_split = []
    for c, concept in enumerate(concepts):
        table = tracks.elements(concept)
        mid = ((table["Start"] + table["End"]) // 2).to_numpy()
        ids = np.array(
            [split.of(ch, [m])[0] for ch, m in zip(table["Chromosome"], mid, strict=True)]
        )
        element_split.append(ids)
        for s in range(n_s):
            out["elements"][s, c] = int(np.sum(ids == s))
    for (contig, strand), acts in dense.items():
        split_ids = split.ids(contig, len(acts))
        for c, concept in enumerate(concepts):
            mask = tracks.mask(contig, strand, 0, len(acts), [concept])[0]
            for s in range(n_s):
                out["positives"][s, c] += int(np.sum(mask & (split_ids == s)))
    for i, f in enumerate(features):
        for t, fraction in enumerate(fractions):
            threshold = np.float32(fraction) * np.float32(scale[f])
            hit_elements = [set() for _ in concepts]
            for (contig, strand), acts in dense.items():
                column = acts[:, f].astype(np.float32)
                on = column > 0 if fraction == 0 else (column > 0) & (column >= threshold)
                split_ids = split.ids(contig, len(acts))
                for s in range(n_s):
                    out["active"][s, i, t] += int(np.sum(on & (split_ids == s)))
                for c, concept in enumerate(concepts):
                    mask = tracks.mask(contig, strand, 0, len(acts), [concept])[0]
                    for s in range(n_s):
                        out["tp"][s, c, i, t] += int(np.sum(on & mask & (split_ids == s)))
                    ids = tracks.element_ids(concept, contig, strand, 0, len(acts))
                    hit_elements[c].update(np.unique(ids[on & (ids >= 0)]).tolist())
            for c in range(n_c):
                for e in hit_elements[c]:
                    out["hits"][element_split[c][e], c, i, t] += 1
    return out
