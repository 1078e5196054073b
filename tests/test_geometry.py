"""The geometry of a concept: planted cycles, clusters, lines and noise are called as such."""

from __future__ import annotations

import numpy as np

import genointerp as gi


def embed(points2d: np.ndarray, d: int = 12, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """2-D points placed in a random plane of d dimensions, with a little noise."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((d, 2)))
    return points2d @ basis.T + noise * rng.standard_normal((len(points2d), d))


def test_a_phase_cycle_is_a_cycle():
    rng = np.random.default_rng(1)
    phase = rng.integers(0, 3, 3000)
    angle = 2 * np.pi * phase / 3 + rng.normal(0, 0.3, 3000)
    acts = embed(np.stack([np.cos(angle), np.sin(angle)], 1))
    found = gi.rank.describe(acts, (phase + 1).astype(str))
    assert found.shape == "cycle" and found.surrounds and found.angular > 0.9
    assert found.explained.sum() > 0.9


def test_two_groups_are_clusters_and_a_mixed_line_is_a_line():
    rng = np.random.default_rng(2)
    side = rng.integers(0, 2, 2000)
    blobs = np.stack([4 * side - 2 + rng.normal(0, 0.5, 2000), rng.normal(0, 0.5, 2000)], 1)
    assert gi.rank.describe(embed(blobs), np.where(side, "in", "out")).shape == "clusters"
    along = np.stack([rng.normal(0, 3, 2000), rng.normal(0, 0.3, 2000)], 1)
    mixed = rng.choice(["1", "2", "3"], 2000)
    line = gi.rank.describe(embed(along), mixed)
    assert line.shape == "line" and line.line > 0.9 and line.separation < 0.1
    cloud = gi.rank.describe(rng.standard_normal((2000, 12)), mixed)
    assert cloud.shape == "diffuse"


def test_family_geometry_reads_the_run_at_the_family_sites(small_run):
    features = gi.features.FeatureActivations(small_run / "features.h5")
    store = gi.acts.ActivationStore(small_run / "activations.h5")
    tracks = gi.concepts.ConceptTracks.read(small_run / "concepts.h5")
    density = features.stats.table().set_index("feature")["density"]
    members = density[density > 0.01].index[:2].tolist()
    found = gi.rank.family_geometry(store, "blocks.1", features, members, tracks, positions=2000)
    assert 1500 <= len(found.labels) <= 2000 and found.points.shape == (len(found.labels), 2)
    assert set(found.labels) <= {"1", "2", "3", "-"} and found.shape in {
        "cycle",
        "clusters",
        "line",
        "diffuse",
    }
    # the projection is of the activations at sites where a member fires
    chunk = features.chunk("chrA", "+")
    fired = set(np.unique(chunk.rows[np.isin(chunk.indices, members)]).tolist())
    assert len(fired) > 0


def test_the_geometry_plot_shows_each_label_and_the_shape(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(1)
    phase = rng.integers(0, 3, 600)
    angle = 2 * np.pi * phase / 3 + rng.normal(0, 0.3, 600)
    found = gi.rank.describe(
        embed(np.stack([np.cos(angle), np.sin(angle)], 1)), (phase + 1).astype(str)
    )
    ax = gi.pl.geometry(found, title="planted")
    assert ax.get_title().startswith("planted: cycle")
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names == ["codon position 1", "codon position 2", "codon position 3"]
    ax.figure.savefig(tmp_path / "geometry.png", dpi=80)
    assert (tmp_path / "geometry.png").stat().st_size > 5000
