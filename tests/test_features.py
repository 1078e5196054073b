"""Feature encoding: the sparse file equals dense encoding, statistics equal direct counts,
a killed job resumes to the same file, and the CLI runs features encode -> align -> rank."""

from __future__ import annotations

import contextlib

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


def test_encoding_killed_while_writing_its_statistics_resumes(setup, monkeypatch):
    """The final 'stats' group may exist half written when the job dies; a rerun rewrites it."""
    tmp, store, sae_dir, _ = setup
    whole = gi.features.encode(store, sae_dir, tmp / "whole2.h5", batch_rows=500)
    real = _encode.FeatureStats.to_group

    def dies_after_creating(self, group):
        if group.name == "/stats":
            raise KeyboardInterrupt  # the group exists, its datasets do not
        return real(self, group)

    monkeypatch.setattr(_encode.FeatureStats, "to_group", dies_after_creating)
    with pytest.raises(KeyboardInterrupt):
        gi.features.encode(store, sae_dir, tmp / "late.h5", batch_rows=500)
    monkeypatch.setattr(_encode.FeatureStats, "to_group", real)
    resumed = gi.features.encode(store, sae_dir, tmp / "late.h5", batch_rows=500)
    for name in ("count_plus", "count_minus", "lag1", "lag3", "hist", "max"):
        np.testing.assert_array_equal(getattr(resumed.stats, name), getattr(whole.stats, name))


def test_encoding_killed_while_creating_its_file_resumes(setup, monkeypatch):
    """A job that dies while laying out the new file leaves no half-made .partial (whose
    missing attributes once read as another SAE's: a SIGKILL in test_faults hit that)."""
    tmp, store, sae_dir, _ = setup
    out = tmp / "born.h5"
    real = _encode.FeatureStats.zeros

    def dies_while_laying_out(*args, **kwargs):
        raise KeyboardInterrupt  # after the attributes and datasets, before the statistics

    monkeypatch.setattr(_encode.FeatureStats, "zeros", dies_while_laying_out)
    with pytest.raises(KeyboardInterrupt):
        gi.features.encode(store, sae_dir, out, batch_rows=500)
    assert not out.with_name(out.name + ".partial").exists()
    monkeypatch.setattr(_encode.FeatureStats, "zeros", real)
    done = gi.features.encode(store, sae_dir, out, batch_rows=500)
    assert done.stats.positions == 2 * N


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


def _same_content(a, b) -> None:
    """Two feature files hold the same CSR arrays, statistics and settings, bit for bit."""
    import h5py

    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        skip = {"stats_current"}
        assert {k: v for k, v in fa.attrs.items() if k not in skip} == {
            k: v for k, v in fb.attrs.items() if k not in skip
        }
        names = []
        fa.visit(lambda n: names.append(n) if n.startswith(("contigs/", "stats/")) else None)
        assert names
        for name in names:
            if isinstance(fa[name], h5py.Dataset):
                x, y = fa[name][()], fb[name][()]
                assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name
            assert dict(fa[name].attrs) == dict(fb[name].attrs), name


@contextlib.contextmanager
def _dies_on_read(monkeypatch, call: int):
    """Store reads raise KeyboardInterrupt at the ``call``-th read (a killed job)."""
    real = gi.acts.ActivationStore.read
    calls = {"n": 0}

    def dies(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(gi.acts.ActivationStore, "read", dies)
    try:
        yield
    finally:
        monkeypatch.setattr(gi.acts.ActivationStore, "read", real)


@pytest.mark.parametrize("n", [1, 3, 8])
def test_merged_shards_equal_one_encoding(small_run, tmp_path, n, monkeypatch):
    """A run's store encoded in n shards (cuts inside contigs and strands), then merged,
    gives the file a single encode gives: CSR arrays, statistics (neighbour counts
    across the cuts included) and codon phase."""
    tracks = gi.concepts.ConceptTracks.read(small_run / "concepts.h5")
    store, sae = small_run / "activations.h5", small_run / "sae"
    whole = gi.features.encode(store, sae, tmp_path / "whole.h5", tracks=tracks, batch_rows=1000)
    positions = whole.n_positions
    whole.close()
    out = tmp_path / "f.h5"
    parts = []
    for i in range(n):
        if i == n // 2:  # one shard is killed part-way and resumed
            monkeypatch.setattr(_encode, "CHECKPOINT_ROWS", 2000)
            with _dies_on_read(monkeypatch, 4), pytest.raises(KeyboardInterrupt):
                gi.features.encode(store, sae, out, tracks=tracks, batch_rows=1000, shard=(i, n))
            assert (tmp_path / f"f.shard-{i}-of-{n}.h5.partial").exists()
        part = gi.features.encode(store, sae, out, tracks=tracks, batch_rows=1000, shard=f"{i}/{n}")
        assert part == tmp_path / f"f.shard-{i}-of-{n}.h5"
        parts.append(part)
    with pytest.raises(gi.errors.GenointerpError, match="shard 0 of"):
        gi.features.FeatureActivations(parts[0])
    merged = gi.features.merge(parts[::-1], out)
    assert merged.stats.positions == positions
    assert merged.stats.lag1.sum() > 0 and merged.stats.phase.sum() > 0
    merged.close()
    _same_content(out, tmp_path / "whole.h5")


def test_shards_cover_every_row_once_balanced():
    from genointerp.features._shards import shard_rows

    groups = [("a", "+", 10_000), ("a", "-", 10_000), ("b", "+", 3_000), ("b", "-", 3_000)]
    for n in (1, 2, 5, 26, 40):
        covered = {g[:2]: np.zeros(g[2], dtype=int) for g in groups}
        sizes = []
        for i in range(n):
            runs = shard_rows(groups, (i, n), 1_000)
            assert len({r[:2] for r in runs}) == len(runs)  # one run per group at most
            for contig, strand, start, end in runs:
                covered[contig, strand][start:end] += 1
                assert start % 1000 == 0 and (
                    end % 1000 == 0
                    or end == dict(((c, s), m) for c, s, m in groups)[contig, strand]
                )
            sizes.append(sum(end - start for *_, start, end in runs))
        assert all((c == 1).all() for c in covered.values())
        assert max(sizes) - min(sizes) <= 2 * 1_000  # balanced to within the batch cuts


def test_merge_refuses_missing_foreign_and_unfinished_shards(setup):
    tmp, store, sae_dir, _ = setup
    out = tmp / "f.h5"
    parts = [
        gi.features.encode(store, sae_dir, out, batch_rows=500, shard=(i, 3)) for i in range(3)
    ]
    with pytest.raises(gi.errors.GenointerpError, match=r"shards 1 of 3 are missing"):
        gi.features.merge([parts[0], parts[2]], out)
    with pytest.raises(gi.errors.GenointerpError, match="no such shard"):
        gi.features.merge([*parts[:2], tmp / "gone.h5"], out)
    torch.manual_seed(1)
    other = build_sae(SAEConfig(architecture="topk", d_sae=F, k=4), D)
    other_dir = save_sae(
        other, tmp / "other", Provenance(model_id="tiny:synthetic", layer="blocks.0", d_model=D)
    )
    foreign = gi.features.encode(store, other_dir, tmp / "g.h5", batch_rows=500, shard=(1, 3))
    with pytest.raises(gi.errors.GenointerpError, match="sae_checksum differs"):
        gi.features.merge([parts[0], foreign, parts[2]], out)
    four = gi.features.encode(store, sae_dir, tmp / "h.h5", batch_rows=500, shard=(1, 4))
    with pytest.raises(gi.errors.GenointerpError, match="shard 1 of 4, not of 3"):
        gi.features.merge([parts[0], four, parts[2]], out)
    whole = gi.features.encode(store, sae_dir, tmp / "w.h5", batch_rows=500)
    with pytest.raises(gi.errors.GenointerpError, match="a whole encoding, not a shard"):
        gi.features.merge([parts[0], whole.path], out)
    assert not out.exists() and not list(tmp.glob(".tmp-*"))


def test_compiled_topk_equals_torch_topk_with_ties_and_nan():
    """The compiled TopK selection gives the plain torch path's rows exactly, also where
    the k-th value is tied (duplicated encoder columns) or a row holds NaN."""
    torch.manual_seed(0)
    sae = build_sae(SAEConfig(architecture="topk", d_sae=64, k=8), D).eval()
    with torch.no_grad():
        w = sae.W_enc_param
        w[:, 40:56] = w[:, 8:24]  # 16 features tie exactly with 16 others
        sae.b_enc[40:56] = sae.b_enc[8:24]
        sae.b_enc[:] += 0.3
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(4000, D)).astype(np.float32))
    x[7, 3] = float("nan")
    counts, cols, values = _encode.sparse_rows(sae, x)
    # pre-activations written into a reused buffer are the SAE's own, bit for bit
    buffer = torch.full((5000, 64), float("nan"))
    again = _encode.sparse_rows(sae, x, buffer)
    for a, b in zip((counts, cols, values), again, strict=True):
        assert a.tobytes() == b.tobytes()
    with torch.no_grad():
        own = sae.pre_acts(x).numpy()
    assert buffer[: len(x)].numpy().tobytes() == own.tobytes()  # NaN row included
    with torch.no_grad():
        rows, c, v = sae.encode_sparse(x)
    v16 = v.to(torch.float16)
    keep = v16 > 0
    rows, c, v16 = rows[keep].numpy(), c[keep].numpy(), v16[keep].numpy()
    order = np.lexsort((c, rows))
    np.testing.assert_array_equal(counts, np.bincount(rows, minlength=len(x)))
    np.testing.assert_array_equal(cols, c[order])
    assert values.dtype == np.float16 and values.tobytes() == v16[order].tobytes()
    pre = sae.pre_acts(x).detach()
    kth = pre.topk(9, dim=-1).values
    assert int((kth[:, 7] == kth[:, 8]).sum()) > 100  # many rows were tied at the cut


def test_count_reads_both_strands_together_and_equals_file_order(setup):
    """The engine reads a feature file stretch by stretch, both strands together (so
    elements close early); the counts equal those of the same activations in file order."""
    from tests.test_align import make_tracks

    tmp, store, sae_dir, _ = setup
    fa = gi.features.encode(store, sae_dir, tmp / "f.h5", batch_rows=700)
    rows = [("gene", "synthetic", a, a + 90, "+-"[i % 2], f"g{i}", -1) for i, a in
            enumerate(range(40, N - 200, 170))]  # fmt: skip
    rows += [("codon", "synthetic", a, a + 90, "+", f"c{i}", i % 3) for i, a in
             enumerate(range(40, N - 200, 340))]  # fmt: skip
    rows += [("region", "synthetic", a, a + 700, ".", f"r{i}", -1) for i, a in
             enumerate(range(0, N - 700, 900))]  # fmt: skip
    tracks = make_tracks(rows, {"synthetic": N}, stranded={"region": False})
    arrays = {("synthetic", s): fa.dense("synthetic", s) for s in fa.strands}
    plain = gi.align.ArraySource(arrays)  # no chunk(): the source's own order
    split = gi.align.BlockSplit(block=500)
    got = gi.align.count(fa, tracks, split=split, chunk_rows=256)
    want = gi.align.count(plain, tracks, split=split, chunk_rows=256, scale=fa.stats.max)
    for name in ("tp", "active", "element_best", "positives", "elements", "positions"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert got.element_best.sum() > 0 and got.tp.sum() > 0
