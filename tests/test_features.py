"""Feature encoding: the sparse file equals dense encoding, statistics equal direct counts,
a killed job resumes to the same file, and the CLI runs features encode -> align -> rank."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genointerp as gi
from genointerp.features import _encode
from genointerp.sae import Provenance, SAEConfig, build_sae, save_sae
from tests.builders import store_from_strands

N, D, F = 3000, 8, 24


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(0)
    plus = rng.normal(size=(N, D)).astype(np.float32)
    minus = rng.normal(size=(N, D)).astype(np.float32)
    store = store_from_strands(tmp_path / "s.h5", plus, minus)
    torch.manual_seed(0)
    sae = build_sae(SAEConfig(architecture="topk", d_sae=F, k=4), D)
    sae_dir = save_sae(
        sae, tmp_path / "sae", Provenance(model_id="tiny:synthetic", layer="blocks.0", d_model=D)
    )
    return tmp_path, store, sae_dir, {"+": plus, "-": minus}


def direct(sae_dir, rows):
    sae, _ = gi.sae.load_sae(sae_dir)
    with torch.no_grad():
        dense = sae.encode(torch.from_numpy(rows)).numpy()
    return dense.astype(np.float16).astype(np.float32)


def test_file_equals_dense_encoding_and_stats_equal_direct_counts(setup):
    tmp, store, sae_dir, rows = setup
    fa = gi.features.encode(store, sae_dir, tmp / "f.h5", batch_rows=700)
    assert fa.d_sae == F and fa.strands == ["+", "-"]
    lag1 = np.zeros(F, dtype=np.int64)
    lag3 = np.zeros(F, dtype=np.int64)
    count = {}
    for strand in "+-":
        expect = direct(sae_dir, rows[strand])
        got = fa.dense("synthetic", strand)
        np.testing.assert_array_equal(got, expect)
        on = expect > 0
        count[strand] = on.sum(0)
        lag1 += (on[:-1] & on[1:]).sum(0)
        lag3 += (on[:-3] & on[3:]).sum(0)
    stats = fa.stats
    np.testing.assert_array_equal(stats.count_plus, count["+"])
    np.testing.assert_array_equal(stats.count_minus, count["-"])
    np.testing.assert_array_equal(stats.lag1, lag1)
    np.testing.assert_array_equal(stats.lag3, lag3)
    both = np.concatenate([direct(sae_dir, rows[s]) for s in "+-"])
    np.testing.assert_allclose(stats.max, both.max(0))
    table = stats.table()
    np.testing.assert_allclose(table["density"], (both > 0).sum(0) / (2 * N))
    med = np.array([np.median(c[c > 0]) if (c > 0).any() else np.nan for c in both.T])
    alive = ~np.isnan(med)
    # histogram quantiles are upper bin edges: within one bin (7.5%) above the true median
    q = table["q50"].to_numpy()
    assert np.all(q[alive] >= med[alive] * 0.999) and np.all(q[alive] <= med[alive] * 1.08)


def test_killed_encoding_resumes_to_the_same_file(setup, monkeypatch):
    tmp, store, sae_dir, _ = setup
    whole = gi.features.encode(store, sae_dir, tmp / "whole.h5", batch_rows=500)
    monkeypatch.setattr(_encode, "CHECKPOINT_ROWS", 1000)
    calls = {"n": 0}
    real = gi.acts.ActivationStore.read

    def dies(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 9:  # mid-way through the '-' strand
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(gi.acts.ActivationStore, "read", dies)
    with pytest.raises(KeyboardInterrupt):
        gi.features.encode(store, sae_dir, tmp / "resumed.h5", batch_rows=500)
    assert (tmp / "resumed.h5.partial").exists() and not (tmp / "resumed.h5").exists()
    monkeypatch.setattr(gi.acts.ActivationStore, "read", real)
    resumed = gi.features.encode(store, sae_dir, tmp / "resumed.h5", batch_rows=500)
    for strand in "+-":
        np.testing.assert_array_equal(
            resumed.dense("synthetic", strand), whole.dense("synthetic", strand)
        )
    for name in ("count_plus", "count_minus", "lag1", "lag3", "hist", "max"):
        np.testing.assert_array_equal(getattr(resumed.stats, name), getattr(whole.stats, name))
    assert resumed.stats.positions == whole.stats.positions == 2 * N


def test_mismatched_sae_is_refused(setup):
    tmp, store, _, _ = setup
    sae = build_sae(SAEConfig(architecture="topk", d_sae=F, k=4), D)
    other = save_sae(sae, tmp / "other", Provenance(model_id="tiny:else", layer="blocks.0"))
    with pytest.raises(gi.errors.SAEMismatchError, match="tiny:else"):
        gi.features.encode(store, other, tmp / "x.h5")


def test_cli_encode_align_then_rank(setup, capsys):
    from genointerp.cli import main
    from tests.builders import random_sequence
    from tests.test_align import make_tracks

    tmp, store, sae_dir, _ = setup
    with gi.acts.ActivationStore(store) as s:
        checksum = s.genome_checksum
    rows = [
        ("gene", "synthetic", a, a + 60, "+-"[i % 2], f"g{i}", -1)
        for i, a in enumerate(range(50, N - 100, 230))
    ]
    rows += [
        ("site", "synthetic", a, a + 4, ".", f"s{i}", -1)
        for i, a in enumerate(range(20, N - 10, 170))
    ]
    tracks = make_tracks(rows, {"synthetic": N}, stranded={"site": False})
    tracks.genome_checksum = checksum
    tracks.write(tmp / "tracks.h5")
    assert (
        main(
            [
                "features",
                "encode",
                "--store",
                str(store),
                "--sae",
                str(sae_dir),
                "--tracks",
                str(tmp / "tracks.h5"),
                "-o",
                str(tmp / "f.h5"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "align",
                "--features",
                str(tmp / "f.h5"),
                "--tracks",
                str(tmp / "tracks.h5"),
                "--block",
                "500",
                "--shifts",
                "50",
                "-o",
                str(tmp / "al"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "gene" in out and "site" in out
    alignment = gi.align.Alignment.read(tmp / "al")
    assert set(alignment.concepts["concept"]) == {"gene", "site"}
    assert len(alignment.pairs) == 2 * F
    # the table's test element-F1 is recomputed from the counts
    sc = gi.align.scores(alignment.counts, "test", alignment.settings["fractions"])
    row = alignment.pairs.iloc[5]
    t = alignment.settings["fractions"].index(row["fraction"])
    c = alignment.counts.concepts.index(row["concept"])
    assert sc["element_f1"][c, int(row["feature"]), t] == pytest.approx(
        row["test_element_f1"], rel=1e-7
    )
    sequence = random_sequence(N, seed=N)
    (tmp / "genome.fa").write_text(f">synthetic\n{sequence}\n")
    rank = ["rank", "--alignment", str(tmp / "al"), "--features", str(tmp / "f.h5")]
    rank += ["--tracks", str(tmp / "tracks.h5"), "--genome", str(tmp / "genome.fa")]
    assert main([*rank, "--sae", str(sae_dir), "-o", str(tmp / "cat")]) == 0
    import anndata as ad
    import pandas as pd
    import scanpy as sc

    adata = ad.read_h5ad(tmp / "cat" / "catalog.h5ad")
    assert adata.shape == (F, 2) and adata.obsm["decoder"].shape == (F, D)
    assert set(adata.obs["class"]) <= set(gi.rank.CLASSES)
    # scanpy clusters the features straight from the catalog (by their concept profile)
    sc.pp.neighbors(adata, n_neighbors=5, use_rep="X")
    sc.tl.leiden(adata, flavor="igraph", n_iterations=2, directed=False)
    assert adata.obs["leiden"].nunique() >= 1 and adata.obs["leiden"].notna().all()
    sites = pd.read_csv(tmp / "cat" / "top_sites.tsv", sep="\t")
    assert (sites["context"].str.len() == 21).all()
    # each context is centred on its site's base in the genome
    assert all(
        c[10] == sequence[p] for c, p in zip(sites["context_plus"], sites["position"], strict=True)
    )
    # the '-' pass reads the reverse complement of the '+' context
    minus = sites[sites["strand"] == "-"].iloc[0]
    assert minus["context"] == gi.rank._sites.revcomp(minus["context_plus"])


def test_classes_follow_the_documented_rule():
    import pandas as pd

    rows = {  # density, test eF1, q, motif IC, reproducibility, shape -> class
        "dead": (0.0, 0.9, 0.001, 9.0, 0.9, "dead"),
        "known": (0.01, 0.8, 0.001, 0.0, 0.0, "broad"),
        "dense": (0.5, 0.2, 0.5, 9.0, 0.9, "motif"),
        "candidate_novel": (0.01, 0.1, 0.5, 9.0, 0.9, "motif"),
        "periodic candidate": (0.01, 0.1, np.nan, 0.0, 0.9, "periodic"),
        "strong but untested": (0.01, 0.9, np.nan, 9.0, 0.9, "motif"),
        "strong, not significant": (0.01, 0.9, 0.2, 9.0, 0.9, "motif"),
        "unreproducible": (0.01, 0.1, 0.5, 9.0, 0.2, "motif"),
        "unstructured": (0.01, 0.1, 0.5, 1.0, 0.9, "broad"),
    }
    table = pd.DataFrame(
        rows.values(),
        index=list(rows),
        columns=["density", "test_element_f1", "q_value", "motif_ic", "reproducibility", "shape"],
    )
    got = dict(zip(rows, gi.rank.classify(table, gi.rank.RankSettings()), strict=True))
    assert got == {
        "dead": "dead",
        "known": "known",
        "dense": "dense",
        "candidate_novel": "candidate_novel",
        "periodic candidate": "candidate_novel",
        "strong but untested": "uncharacterised",
        "strong, not significant": "uncharacterised",
        "unreproducible": "uncharacterised",
        "unstructured": "uncharacterised",
    }


def test_top_sites_equal_a_full_sort(setup):
    """Top sites found chunk by chunk with the histogram cut equal a full sort."""
    tmp, store, sae_dir, _ = setup
    fa = gi.features.encode(store, sae_dir, tmp / "f.h5")
    split = gi.align.BlockSplit(block=500)
    n = 7
    sites = gi.rank._sites.top_sites(fa, range(F), split, n, chunk_rows=700)
    for f in range(F):
        found = 0
        for s_id in range(2):
            expect = []
            for strand in fa.strands:
                values = fa.dense("synthetic", strand)[:, f]
                on = np.flatnonzero((values > 0) & (split.of("synthetic", np.arange(N)) == s_id))
                expect.extend(values[on].tolist())
            got = sites[(sites["feature"] == f) & (sites["split"] == s_id)]["activation"]
            # the strongest of the split, up to n (the histogram cut may leave fewer)
            assert 0 < len(got) <= n
            assert sorted(got, reverse=True) == sorted(expect, reverse=True)[: len(got)]
            found += len(got)
        assert found >= n  # the cut keeps at least 2n values over both splits
