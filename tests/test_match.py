"""Matching features across SAEs: correlations against numpy, and a planted permutation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import genointerp as gi

from .test_families import D_SAE, DEAD, DenseSource, planted


def test_correlations_equal_numpy():
    rng = np.random.default_rng(0)
    a = rng.random((500, 6)) * (rng.random((500, 6)) < 0.2)
    b = rng.random((500, 4)) * (rng.random((500, 4)) < 0.5)
    b[:, 0] = 0  # a constant column correlates 0 with everything
    got = gi.rank.correlations(sp.csr_matrix(a), sp.csr_matrix(b))
    want = np.corrcoef(a.T, b[:, 1:].T)[:6, 6:]
    assert np.allclose(got[:, 1:], want)
    assert np.all(got[:, 0] == 0)


def test_a_permuted_sae_is_matched_feature_for_feature():
    first = planted(seed=1)
    perm = np.random.default_rng(2).permutation(D_SAE)
    replaced = [13, 15]  # features of the second SAE that fire on their own new sites
    rng = np.random.default_rng(5)
    arrays = {}
    for key, x in first.arrays.items():
        y = x[:, perm].copy()
        for f in replaced:
            column = int(np.flatnonzero(perm == f)[0])
            y[:, column] = (rng.random(len(y)) < 0.03) * rng.uniform(0.5, 2.0, len(y))
        arrays[key] = y.astype(np.float32)
    second = DenseSource(arrays)
    w = np.random.default_rng(3).normal(size=(D_SAE, 8))
    found = gi.rank.match_features(
        first, second, decoders=(w, w[perm]), positions=60_000, stretches=8
    )
    table = found.table.set_index("feature")
    alive = [f for f in range(D_SAE) if f not in DEAD]
    kept = [f for f in alive if f not in replaced]
    # each kept feature finds its own copy: the column the permutation moved it to
    copies = {int(perm[c]): c for c in range(D_SAE)}
    for f in kept:
        # near-copies within a planted group correlate highly too, so the exact copy must
        # win: its correlation is 1
        assert table.loc[f, "match"] == copies[f] and table.loc[f, "correlation"] > 0.999
        assert table.loc[f, "decoder_cosine"] == pytest.approx(1.0)
    for f in replaced:
        assert table.loc[f, "correlation"] < 0.2 and not table.loc[f, "stable"]
    summary = found.summary()
    assert summary.loc[0, "features"] == len(alive)
    assert summary.loc[0, "stable"] == len(kept)
    classes = pd.Series(["a"] * 12 + ["b"] * 10, index=range(D_SAE))
    by_class = found.summary(classes).set_index("class")
    assert by_class.loc["b", "stable"] == len([f for f in kept if f >= 12])


def test_matching_refuses_two_genomes():
    with pytest.raises(gi.errors.GenointerpError, match="one genome"):
        gi.rank.match_features(planted(lengths=(30_000,)), planted(lengths=(20_000,)))
