"""gi.pl: what each plot draws is checked against the data it was drawn from."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

import genointerp as gi  # noqa: E402
from genointerp import names, pl  # noqa: E402
from genointerp.errors import GenointerpError  # noqa: E402
from genointerp.rank._rank import json_safe  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run(small_run) -> Path:
    """The synthetic run folder of tests/run_fixture.py (read-only)."""
    return small_run


@pytest.fixture(scope="module")
def alignment(run):
    return gi.align.Alignment.read(run / "alignment")


@pytest.fixture(scope="module")
def table(run) -> pd.DataFrame:
    return pd.read_csv(run / "catalog" / "catalog.tsv", sep="\t")


@pytest.fixture(scope="module")
def sites(run) -> pd.DataFrame:
    return pd.read_csv(run / "catalog" / "top_sites.tsv", sep="\t")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def alive(table: pd.DataFrame, n: int) -> list[int]:
    return table.loc[table["density"] > 0, "feature"].head(n).astype(int).tolist()


# -- logos -----------------------------------------------------------------------------


def test_logo_letter_heights_follow_information_content():
    rng = np.random.default_rng(1)
    pwm = rng.dirichlet([0.4] * 4, size=6)
    pwm[2] = 0.25  # a flat column: no letters
    ax = pl.logo(pwm, title="f7")
    bits = gi.rank.information_content(pwm)
    columns: dict[int, list] = {}
    for patch in ax.patches:
        box = patch.get_path().get_extents()
        column = round((box.x0 + box.x1) / 2) - 1
        assert box.x1 - box.x0 == pytest.approx(0.9)
        columns.setdefault(column, []).append((box.y0, box.y1, patch.get_gid()))
    assert 2 not in columns
    for column, letters in columns.items():
        letters.sort()
        heights = {gid: y1 - y0 for y0, y1, gid in letters}
        for gid, height in heights.items():
            assert height == pytest.approx(pwm[column, "ACGT".index(gid)] * bits[column], abs=1e-9)
        assert letters[-1][1] == pytest.approx(bits[column])  # stack = the column's bits
        assert [h for h in sorted(heights.values())] == [heights[g] for *_, g in letters]
    assert ax.get_ylim() == (0, 2) and ax.get_title() == "f7"


def test_logo_colours_and_first_column():
    onehot = np.eye(4)  # A, C, G, T
    fig, ax = plt.subplots()
    assert pl.logo(onehot, ax, first=-2) is ax
    colors = [patch.get_facecolor() for patch in ax.patches]
    assert colors == [matplotlib.colors.to_rgba(pl.LOGO_COLORS[b]) for b in "ACGT"]
    x0 = [patch.get_path().get_extents().x0 for patch in ax.patches]
    assert x0 == pytest.approx([-2.45, -1.45, -0.45, 0.55])
    with pytest.raises(ValueError, match="shape"):
        pl.logo([[1, 0, 0]])


def test_write_logos_writes_one_png_per_feature(tmp_path):
    paths = pl.write_logos({3: np.eye(4), 12: np.eye(4)[::-1]}, tmp_path / "logos")
    assert [p.name for p in paths] == ["feature_3.png", "feature_12.png"]
    image = plt.imread(paths[0])
    assert image.ndim == 3 and image.shape[0] > 50
    assert not list((tmp_path / "logos").glob(".tmp-*"))
    assert plt.get_fignums() == []  # written off pyplot


def test_rank_has_no_plotting_and_only_pl_imports_matplotlib():
    assert not hasattr(gi.rank, "plot_logo")
    importers = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "genointerp").rglob("*.py")
        if "import matplotlib" in path.read_text() or "from matplotlib" in path.read_text()
    ]
    assert importers and all(p.startswith("genointerp/pl/") for p in importers), importers
    code = "import sys, genointerp.pl; print('matplotlib' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# -- track plot ------------------------------------------------------------------------


def test_track_lines_are_the_stored_activations(run, table):
    features = alive(table, 3)
    fa = gi.features.FeatureActivations(run / "features.h5")
    fig = pl.tracks(fa, run / "concepts.h5", "chrA:1,001-4,000", features=features, catalog=table)
    assert len(fig.axes) == len(features) + 1
    for ax, feature in zip(fig.axes, features, strict=False):
        lines = [line for line in ax.lines if line.get_gid() != "zero"]
        assert [line.get_gid() for line in lines] == [f"f{feature}:+", f"f{feature}:-"]
        for line, strand in zip(lines, "+-", strict=True):
            stored = fa.dense("chrA", strand, 1000, 4000, features=[feature])[:, 0]
            assert np.array_equal(line.get_ydata(), stored)
            assert np.array_equal(line.get_xdata(), np.arange(1000, 4000))
        assert ax.get_ylabel().startswith(f"f{feature} ")
    one = pl.tracks(fa, None, ("chrB", 10, 500), features=features[:1], strand="-")
    assert len(one.axes) == 1 and len(one.axes[0].lines) == 1
    expected = fa.dense("chrB", "-", 10, 500, features=features[:1])[:, 0]
    assert np.array_equal(one.axes[0].lines[0].get_ydata(), expected)
    fa.close()


def test_region_activations_equal_dense_for_any_order(run):
    fa = gi.features.FeatureActivations(run / "features.h5")
    wanted = [5, 0, 31, 12]
    got = pl.region_activations(fa, "chrB", "+", 100, 2100, wanted)
    assert np.array_equal(got, fa.dense("chrB", "+", 100, 2100, features=wanted))
    fa.close()


def test_track_annotation_patches_sit_at_the_elements(run, table):
    tracks = gi.concepts.ConceptTracks.read(run / "concepts.h5")
    start, end = 500, 6_500
    lanes = ["cds", "trna", "rrna", "promoter"]
    fig = pl.tracks(
        run / "features.h5",
        tracks,
        f"chrA:{start + 1}-{end}",  # 1-based text for the 0-based [start, end)
        features=alive(table, 1),
        annotation=lanes,
    )
    ax = fig.axes[-1]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        tracks.spec(c).label if len(tracks.spec(c).label) <= 16 else c for c in lanes
    ]
    drawn = {patch.get_gid(): patch.get_xy() for patch in ax.patches}
    for y, concept in zip(range(len(lanes) - 1, -1, -1), lanes, strict=True):
        elements = tracks.elements(concept)
        inside = elements[
            (elements[names.CHROM] == "chrA")
            & (elements[names.END] > start)
            & (elements[names.START] < end)
        ]
        assert len(inside) > 0, concept
        for row in inside.itertuples():
            xy = drawn.pop(f"{concept}:{row.Element}")
            assert xy[:, 0].min() == max(row.Start, start)
            assert xy[:, 0].max() == min(row.End, end)
            assert y < xy[:, 1].min() < xy[:, 1].max() < y + 1
            tip = xy[np.argmax(xy[:, 0])] if row.Strand == "+" else xy[np.argmin(xy[:, 0])]
            if (row.Strand == "+" and row.End <= end) or (row.Strand == "-" and row.Start >= start):
                assert tip[1] == pytest.approx((xy[:, 1].min() + xy[:, 1].max()) / 2)
            upper = xy[:, 1].min() > y + 0.5
            assert upper == (row.Strand == "+")
    assert drawn == {}  # nothing else drawn


def test_track_plot_errors_name_the_fix(run):
    with pytest.raises(GenointerpError, match="no contig 'chrZ'.*Fix"):
        pl.tracks(run / "features.h5", None, "chrZ:1-10", features=[0])
    with pytest.raises(GenointerpError, match="not inside chrA"):
        pl.tracks(run / "features.h5", None, "chrA:100-99999", features=[0])
    with pytest.raises(GenointerpError, match="strand"):
        pl.tracks(run / "features.h5", None, "chrA:1-100", features=[0], strand="x")
    with pytest.raises(GenointerpError, match="not concepts"):
        pl.tracks(
            run / "features.h5",
            run / "concepts.h5",
            "chrA:1-100",
            features=[0],
            annotation=["genes"],
        )
    assert pl.parse_region("chrB", {"chrB": 6000}) == ("chrB", 0, 6000)
    # text is 1-based inclusive, as browsers show it; tuples are 0-based half-open
    assert pl.parse_region("chrB:1-10", {"chrB": 6000}) == ("chrB", 0, 10)
    assert pl.parse_region(("chrB", 0, 10), {"chrB": 6000}) == ("chrB", 0, 10)
    with pytest.raises(GenointerpError, match="1-based"):
        pl.parse_region("chrB:0-10", {"chrB": 6000})


# -- alignment plots -------------------------------------------------------------------


def test_heatmap_cells_are_the_alignment_scores(alignment, run):
    ax = pl.alignment_heatmap(alignment)
    cells = np.ma.filled(ax.images[0].get_array(), np.nan)
    table = alignment.concepts
    concepts = table.loc[table["elements_test"] > 0, "concept"].tolist()
    features = list(dict.fromkeys(table.set_index("concept").loc[concepts, "single_feature"]))
    assert [t.get_text() for t in ax.get_yticklabels()] == concepts
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"f{f}" for f in features]
    pairs = alignment.pairs.set_index(["concept", "feature"])["test_element_f1"]
    for i, concept in enumerate(concepts):
        for j, feature in enumerate(features):
            assert cells[i, j] == pytest.approx(pairs[(concept, feature)], nan_ok=True)
    # the same cells from the catalog's AnnData (X = held-out element-F1)
    adata = ad.read_h5ad(run / "catalog" / "catalog.h5ad")
    ax = pl.alignment_heatmap(adata, concepts=concepts[:3], features=features)
    x = pd.DataFrame(adata.X, index=adata.obs["feature"], columns=adata.var_names)
    expected = x.loc[features, concepts[:3]].to_numpy().T
    np.testing.assert_allclose(np.ma.filled(ax.images[0].get_array(), np.nan), expected, rtol=1e-6)


def test_threshold_curve_points_are_the_scores(alignment):
    row = alignment.concepts.sort_values("single_val_element_f1").iloc[-1]
    feature, concept = int(row["single_feature"]), row["concept"]
    fractions = alignment.settings["fractions"]
    ax = pl.threshold_curve(alignment, feature, concept, fractions=fractions)
    expected = gi.align.scores(alignment.counts, "test", fractions)
    c = alignment.counts.concepts.index(concept)
    curves = {line.get_label(): line for line in ax.lines}
    for name, (label, _, _) in pl.CURVES.items():
        assert np.array_equal(curves[label].get_xdata(), fractions)
        np.testing.assert_allclose(curves[label].get_ydata(), expected[name][c, feature])
    assert curves["chosen on validation"].get_xdata()[0] == row["single_fraction"]
    # default: every level of the counts, scored on validation on request
    ax = pl.threshold_curve(alignment, feature, concept, split="validation", scores=["f1"])
    grid = np.arange(21) / 20
    expected = gi.align.scores(alignment.counts, "validation", grid)["f1"][c, feature]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), expected)
    with pytest.raises(GenointerpError, match="no pair"):
        pl.threshold_curve(alignment, 999, concept)


def test_sae_vs_baselines_bars_are_the_concept_tables(run, alignment):
    store = gi.acts.ActivationStore(run / "activations.h5")
    tracks = gi.concepts.ConceptTracks.read(run / "concepts.h5")
    split = gi.align.BlockSplit(block=1_500)
    neurons = gi.align.align(
        gi.align.neurons(store, "blocks.1"),
        tracks,
        split=split,
        n_shifts=10,
        candidates=1,
        min_effect=2.0,
    )
    store.close()
    ax = pl.sae_vs_baselines(alignment, neurons.concepts)
    concepts = alignment.concepts.loc[alignment.concepts["elements_test"] > 0, "concept"].tolist()
    assert [t.get_text() for t in ax.get_yticklabels()] == concepts
    bars = {container.get_label(): container for container in ax.containers}
    assert list(bars) == ["SAE feature", "SAE feature set", "neuron"]
    sae = alignment.concepts.set_index("concept").loc[concepts]
    base = neurons.concepts.set_index("concept").loc[concepts]
    for label, column in (
        ("SAE feature", sae["single_test_element_f1"]),
        ("SAE feature set", sae["set_test_element_f1"]),
        ("neuron", base["single_test_element_f1"]),
    ):
        widths = [bar.get_width() for bar in bars[label]]
        np.testing.assert_allclose(widths, column.fillna(0).to_numpy())
    stars = sum(text.get_text() == "*" for text in ax.texts)
    significant = sum(
        (t[f"{k}_q_value"] < 0.05).sum()
        for t, k in ((sae, "single"), (sae, "set"), (base, "single"))
    )
    assert stars == significant


# -- evidence --------------------------------------------------------------------------


def test_site_logo_is_the_pwm_of_the_top_sites(sites, table):
    feature = alive(table, 1)[0]
    ax = pl.site_logo(sites, feature)
    mine = sites[(sites["feature"] == feature) & (sites["split"] == 0)]["context"]
    pwm = gi.rank.pwm_from_sites(mine.tolist())
    heights = pwm * gi.rank.information_content(pwm)[:, None]
    flank = (len(pwm) - 1) // 2
    drawn = np.zeros_like(heights)
    for patch in ax.patches:
        box = patch.get_path().get_extents()
        drawn[round((box.x0 + box.x1) / 2) + flank, "ACGT".index(patch.get_gid())] = box.height
    np.testing.assert_allclose(drawn, np.where(heights > 1e-6, heights, 0), atol=1e-9)
    assert ax.get_title() == f"f{feature}: {len(mine)} top sites (validation split)"


def test_codon_phase_bars_are_the_phase_profile(table):
    features = alive(table, 2)
    ax = pl.codon_phase(table, features)
    rows = table.set_index("feature").loc[features]
    for container, feature in zip(ax.containers, features, strict=True):
        heights = [bar.get_height() for bar in container]
        expected = rows.loc[feature, ["phase0", "phase1", "phase2"]].to_numpy(dtype=float)
        np.testing.assert_allclose(heights, expected)
        assert container.get_label().startswith(f"f{feature}")
    assert len(pl.codon_phase(table, features[0]).containers) == 1


def test_element_distance_bars_count_the_site_distances(sites, table):
    feature = alive(table, 1)[0]
    ax = pl.element_distance(sites, feature, ["cds", "trna"])
    mine = sites[sites["feature"] == feature]
    for container, concept in zip(ax.containers, ["cds", "trna"], strict=True):
        d = mine[f"dist_{concept}"].to_numpy()
        edges = [0, 1, 11, 31, 101, 301, 1001, 3001, 10001]
        by_hand = [
            int(((d >= lo) & (d < hi)).sum()) for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        ]
        by_hand += [int(((d >= 10001) & np.isfinite(d)).sum()), int(np.isinf(d).sum())]
        assert [bar.get_height() for bar in container] == by_hand
        assert sum(by_hand) == len(mine)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(pl.DISTANCE_LABELS)
    with pytest.raises(GenointerpError, match="no distances"):
        pl.element_distance(sites, feature, "operon")


# -- feature map and the catalog's uns -------------------------------------------------


def test_feature_map_is_written_the_scanpy_way(run):
    adata = ad.read_h5ad(run / "catalog" / "catalog.h5ad")
    pl.embed_features(adata, n_neighbors=5, resolution=0.5, random_state=3)
    assert adata.obsm["X_umap"].shape == (adata.n_obs, 2)
    assert np.isfinite(adata.obsm["X_umap"]).all()
    assert isinstance(adata.obs["leiden"].dtype, pd.CategoricalDtype)
    params = adata.uns["feature_map"]["params"]
    assert (params["n_neighbors"], params["resolution"], params["random_state"]) == (5, 0.5, 3)
    assert params["use_rep"] == "decoder" and params["metric"] == "cosine"
    assert adata.uns["leiden"]["params"]["resolution"] == 0.5
    assert "feature_map_connectivities" in adata.obsp
    # every class is drawn at its features' coordinates
    ax = pl.feature_map(adata, "class")
    classes = adata.obs["class"].astype(str).to_numpy()
    for scatter in ax.collections:
        where = classes == scatter.get_gid()
        np.testing.assert_allclose(scatter.get_offsets(), adata.obsm["X_umap"][where])
    assert sum(len(s.get_offsets()) for s in ax.collections) == adata.n_obs
    ax = pl.feature_map(adata, "best_concept")  # only known features get their concept's colour
    known = classes == "known"
    other = [s for s in ax.collections if s.get_gid() == "other"]
    if not known.all():
        np.testing.assert_allclose(other[0].get_offsets(), adata.obsm["X_umap"][~known])
    concepts = adata.obs["best_concept"].astype(str).to_numpy()
    for scatter in ax.collections:
        if scatter.get_gid() != "other":
            where = known & (concepts == scatter.get_gid())
            np.testing.assert_allclose(scatter.get_offsets(), adata.obsm["X_umap"][where])
    ax = pl.feature_map(adata, "density")
    np.testing.assert_allclose(ax.collections[0].get_array(), adata.obs["density"])
    with pytest.raises(GenointerpError, match="embed_features"):
        pl.feature_map(adata, basis="X_tsne")


def test_catalog_uns_records_settings_and_provenance(run, alignment, tmp_path):
    adata = ad.read_h5ad(run / "catalog" / "catalog.h5ad")
    assert dict(adata.uns["rank"]["params"]) == asdict(gi.rank.RankSettings())
    stored = adata.uns["align"]["params"]
    for key, value in alignment.settings.items():
        got = stored[key]
        assert (np.asarray(got).tolist() if isinstance(got, np.ndarray) else got) == value, key
    fa = gi.features.FeatureActivations(run / "features.h5")
    assert {k: _plain(v) for k, v in adata.uns["sae"].items()} == fa.sae
    fa.close()
    # and again after a round trip of our own
    adata.write_h5ad(tmp_path / "again.h5ad")
    again = ad.read_h5ad(tmp_path / "again.h5ad")
    assert dict(again.uns["rank"]["params"]) == asdict(gi.rank.RankSettings())


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def test_json_safe_keeps_what_anndata_writes():
    value = {"a": (1, np.int64(2)), "b": None, "c": [{"x": 1}], "d": Path("p"), 3: np.float32(1)}
    assert json_safe(value) == {"a": [1, 2], "b": None, "c": '[{"x": 1}]', "d": "p", "3": 1.0}


# -- the figures of a run --------------------------------------------------------------


def test_write_figures_writes_the_standard_pngs(run_copy, tmp_path):
    # every class the figures need: mark an alive feature known / candidate if none is
    table = pd.read_csv(run_copy / "catalog" / "catalog.tsv", sep="\t")
    spare = iter(table.loc[(table["density"] > 0) & (table["class"] != "known"), "feature"])
    if not (table["class"] == "known").any():
        table.loc[table["feature"] == next(spare), "class"] = "known"
    if not (table["class"] == "candidate_novel").any():
        table.loc[table["feature"] == next(spare), ["class", "novelty"]] = ["candidate_novel", 0.4]
    table.to_csv(run_copy / "catalog" / "catalog.tsv", sep="\t", index=False)
    (run_copy / "baselines" / "probe").mkdir(parents=True)  # a stand-in probe baseline
    shutil.copy(run_copy / "alignment" / "concepts.tsv", run_copy / "baselines" / "probe")
    known = table[table["class"] == "known"].sort_values("test_element_f1", ascending=False)
    before = plt.get_fignums()
    figures = pl.write_figures(run_copy, tmp_path / "figures", embed=False)
    assert plt.get_fignums() == before  # drawn off pyplot
    evidence = [
        f"{k}_{n}"
        for k in ("known", "candidate")
        for n in ("logo", "codon_phase", "distance", "threshold")
    ]
    assert sorted(figures) == sorted(["tracks", "alignment_heatmap", "sae_vs_baselines"] + evidence)
    assert figures["known_logo"].name == f"known_f{known['feature'].iloc[0]}_logo.png"
    for path in figures.values():
        assert path.parent == tmp_path / "figures"
        image = plt.imread(path)
        assert image.shape[0] > 100 and image.shape[1] > 100
    assert not list((tmp_path / "figures").glob(".tmp-*"))
    with pytest.raises(GenointerpError, match="no catalog"):
        pl.write_figures(tmp_path / "figures", tmp_path / "none")
