"""Feature families: planted groups of co-firing features come back as families, dead
features have none, the same input gives the same families, the families table counts
its members, and the run's summary does not depend on how many per-feature tests ran."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import genointerp as gi
from genointerp.features import Chunk
from genointerp.rank import (
    FamilySettings,
    assign_families,
    best_members,
    cofiring,
    family_table,
    read_summary,
    sample_activity,
)

GROUPS = [[0, 1, 2, 3], [4, 5, 6, 7, 8], [9, 10, 11]]  # planted near-copies
NOISE = list(range(12, 20))  # each fires on its own
DEAD = [20, 21]
D_SAE = 22


class DenseSource:
    """In-memory activations ``{(contig, strand): (length, d_sae)}`` read the way a
    :class:`~genointerp.features.FeatureActivations` is (``contigs``, ``strands``,
    ``d_sae``, ``chunk``)."""

    def __init__(self, arrays: dict[tuple[str, str], np.ndarray]):
        self.arrays = arrays
        self.contigs = {c: len(a) for (c, _), a in arrays.items()}
        self.strands = ["+", "-"]
        self.d_sae = next(iter(arrays.values())).shape[1]

    def chunk(self, contig: str, strand: str, start: int = 0, end: int | None = None) -> Chunk:
        block = sp.csr_matrix(self.arrays[(contig, strand)][start:end])
        return Chunk(contig, strand, start, end, block.indptr, block.indices, block.data)


def planted(seed: int = 0, lengths=(30_000, 12_000), density: float = 0.03) -> DenseSource:
    """Each group fires at its own random 3% of positions, each member at 90% of those;
    noise features at their own 3%; dead features never."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for c, length in enumerate(lengths):
        for strand in "+-":
            x = np.zeros((length, D_SAE), np.float32)
            for group in GROUPS:
                on = rng.random(length) < density
                for f in group:
                    x[:, f] = on & (rng.random(length) < 0.9)
            for f in NOISE:
                x[:, f] = rng.random(length) < density
            arrays[(f"chr{c}", strand)] = x * rng.uniform(0.5, 2.0, x.shape).astype(np.float32)
    return DenseSource(arrays)


def stats_table(source: DenseSource) -> pd.DataFrame:
    fired = sum((a > 0).sum(0) for a in source.arrays.values())
    total = sum(len(a) for a in source.arrays.values())
    return pd.DataFrame({"feature": np.arange(D_SAE), "density": fired / total})


def test_planted_groups_become_families_and_dead_features_have_none():
    source = planted()
    table = stats_table(source)
    found = assign_families(source, table, FamilySettings(positions=40_000, stretches=8))
    labels = found.labels
    assert list(labels[DEAD]) == [-1, -1]
    for group in GROUPS:
        assert len(set(labels[group])) == 1, (group, labels[group])
    group_labels = [labels[g[0]] for g in GROUPS]
    noise_labels = list(labels[NOISE])
    # three families of the planted sizes, every noise feature alone
    assert len(set(group_labels + noise_labels)) == len(GROUPS) + len(NOISE)
    assert sorted(np.bincount(labels[labels >= 0])) == [1] * 8 + [3, 4, 5]
    # members of a group co-fire with phi near 0.9 x 0.9 / 0.9 = 0.9; others near 0
    phi = found.similarity.toarray()
    assert 0.8 < phi[0, 1] < 0.95 and phi[0, 4] == 0 and phi[12, 13] == 0


def test_families_are_deterministic_and_read_both_strands_of_every_contig():
    source = planted(seed=3)
    table = stats_table(source)
    settings = FamilySettings(positions=20_000, stretches=6)
    first = assign_families(source, table, settings).labels
    again = assign_families(source, table, settings).labels
    assert np.array_equal(first, again)
    active = sample_activity(source, settings.positions, settings.stretches)
    # 6 stretches x 2 strands x 1,666 rows, some on the second contig (starts 30,000+)
    assert active.shape == (6 * 2 * (20_000 // 12), D_SAE)
    expected = []
    for start in np.linspace(0, 42_000, 6, endpoint=False).astype(int):
        contig, offset = ("chr0", start) if start < 30_000 else ("chr1", start - 30_000)
        for strand in "+-":
            rows = source.arrays[(contig, strand)][offset : offset + 20_000 // 12]
            expected.append(rows > 0)
    assert np.array_equal(active.toarray() > 0, np.vstack(expected))


def test_cofiring_is_the_phi_coefficient():
    rng = np.random.default_rng(1)
    base = rng.random(5_000) < 0.2
    x = np.stack(
        [
            base,
            base & (rng.random(5_000) < 0.7),
            rng.random(5_000) < 0.2,
            base | (rng.random(5_000) < 0.1),
        ],
        axis=1,
    )
    phi = cofiring(sp.csr_matrix(x.astype(np.float32)), min_phi=0.0, min_shared=1).toarray()
    expected = np.corrcoef(x.T.astype(float))
    np.fill_diagonal(expected, 0)
    kept = expected >= 0  # negative correlations are not links
    assert phi[kept] == pytest.approx(expected[kept], abs=1e-9)
    assert (phi[~kept] == 0).all()
    strict = cofiring(sp.csr_matrix(x.astype(np.float32)), min_phi=0.5).toarray()
    assert set(zip(*np.nonzero(strict), strict=True)) == {
        (0, 1),
        (1, 0),
        (0, 3),
        (3, 0),
        (1, 3),
        (3, 1),
    }


def catalog_rows() -> pd.DataFrame:
    """Ten features in four families and a dead one, with the catalog's columns."""
    return pd.DataFrame(
        {
            "feature": range(11),
            "family": [0, 0, 0, 1, 1, 2, 2, 2, 3, 3, -1],
            "class": ["uncharacterised", "known", "known", "candidate_novel", "candidate_novel"]
            + ["uncharacterised", "candidate_novel", "dense", "candidate_novel"]
            + ["uncharacterised", "dead"],
            "best_concept": ["cds", "cds", "trna", "cds", "cds", "cds", "rrna", "cds"]
            + ["intergenic", "cds", None],
            "test_element_f1": [0.9, 0.7, 0.8, 0.2, 0.1, 0.3, 0.2, 0.4, 0.1, 0.6, np.nan],
            "q_value": [np.nan, 0.01, 0.02] + [np.nan] * 8,
            "novelty": [np.nan] * 3 + [0.4, 0.6, np.nan, 0.5, np.nan, 0.9, np.nan, np.nan],
            "known_by": ["", "element_f1", "element_f1"] + [""] * 8,
        }
    )


def test_family_table_picks_the_best_member_and_counts_the_members():
    rows = catalog_rows()
    phi = sp.csr_matrix(np.full((11, 11), 0.5) - 0.5 * np.eye(11))
    table = family_table(rows, phi).set_index("family")
    # family 0: its best known member (0.8), not the stronger untested feature 0 (0.9)
    assert table.loc[0, "best_feature"] == 2 and table.loc[0, "class"] == "known"
    assert table.loc[0, "members"] == "2,0,1" and table.loc[0, "concepts"] == "cds:2,trna:1"
    assert (table.loc[0, "n_known"], table.loc[0, "n_uncharacterised"]) == (2, 1)
    assert table.loc[0, "q_value"] == 0.02 and table.loc[0, "mean_phi"] == pytest.approx(0.5)
    # family 1: candidates, the most novel leads
    assert table.loc[1, "best_feature"] == 4 and table.loc[1, "class"] == "candidate_novel"
    # family 3 holds a strong match (0.6, untested): not a candidate family
    assert table.loc[3, "best_feature"] == 9 and table.loc[3, "class"] == "uncharacterised"
    assert table.loc[2, "best_feature"] == 6 and table.loc[2, "n_dense"] == 1
    assert table["size"].sum() == 10 and -1 not in table.index
    # reading order: known, candidates by novelty (0.6, 0.5), then the rest
    assert list(best_members(rows)["family"]) == [0, 1, 2, 3]
    assert list(
        best_members(rows.assign(novelty=rows["novelty"].where(rows.feature != 4)))["family"]
    ) == [0, 2, 1, 3]


@pytest.fixture(scope="module")
def retested(small_run, tmp_path_factory):
    """The small run aligned again with no per-feature test and with every one, ranked."""
    features = gi.features.FeatureActivations(small_run / "features.h5")
    tracks = gi.concepts.ConceptTracks.read(small_run / "concepts.h5")
    genome = gi.io.Genome.open(small_run / "genome.fa")
    split = gi.align.BlockSplit(block=1_500)
    catalogs = {}
    for tests in (0, None):
        result = gi.align.align(features, tracks, split=split, n_shifts=1000, max_tests=tests)
        catalogs[tests] = gi.rank.rank(result, features, genome, tracks)
    features.close()
    return catalogs


def test_summary_counts_do_not_depend_on_the_per_feature_tests(retested):
    none, every = retested[0].summary(), retested[None].summary()
    assert none.tested == 0 and none.known_features == 0 and none.known_families == 0
    assert every.tested >= 10 and every.known_features >= 1 and every.known_families >= 1
    # the planted TF-site feature makes its concept known at concept level either way
    assert none.known_concepts == every.known_concepts == ["tf_binding_site"]
    assert none.concepts == every.concepts == 38
    assert (none.candidate_families, none.candidate_features) == (
        every.candidate_families,
        every.candidate_features,
    )
    assert (
        every.candidate_features
        == (
            (retested[None].table["class"] == "candidate_novel")
            & retested[None]
            .table["family"]
            .isin(retested[None].families.query("`class` == 'candidate_novel'")["family"])
        ).sum()
    )
    line = str(none)
    assert line.startswith("known concepts: 1 of 38 (tf_binding_site); known features: 0 in 0")
    assert f"candidates: {none.candidate_families} families" in line

    # the families themselves come from co-firing alone: the same groups (numbered in
    # reading order, which follows the classes)
    def groups(catalog):
        return {frozenset(g) for _, g in catalog.table.groupby("family")["feature"]}

    assert groups(retested[0]) == groups(retested[None])


def test_catalog_writes_families_beside_the_catalog(small_run):
    folder = small_run / "catalog"
    table = pd.read_csv(folder / "catalog.tsv", sep="\t")
    families = pd.read_csv(folder / "families.tsv", sep="\t")
    alive = table[table["density"] > 0]
    assert (table.loc[table["density"] <= 0, "family"] == -1).all()
    assert families["size"].sum() == len(alive) and families["family"].tolist() == list(
        range(len(families))
    )
    assert set(alive["family"]) == set(families["family"])
    assert set(table.loc[table["family_best"], "feature"]) == set(families["best_feature"])
    for row in families.itertuples():
        members = [int(m) for m in str(row.members).split(",")]
        assert members[0] == row.best_feature and len(members) == row.size
        assert sorted(members) == sorted(table.loc[table["family"] == row.family, "feature"])
    import anndata as ad

    adata = ad.read_h5ad(folder / "catalog.h5ad")
    assert adata.obs["family"].tolist() == table["family"].tolist()
    assert adata.obsp["cofiring"].shape == (len(table), len(table))
    assert (
        adata.uns["families"]["table"]["best_feature"].tolist() == families["best_feature"].tolist()
    )
    assert adata.uns["families"]["params"]["resolution"] == 0.3
    summary = read_summary(folder)
    assert summary.known_features == (table["class"] == "known").sum()
    assert summary.tested == table["p_value"].notna().sum() == 5


def test_family_settings_are_checked():
    with pytest.raises(ValueError, match="phi coefficients"):
        FamilySettings(resolution=1.5)
    with pytest.raises(ValueError, match="positions 0, stretches 64 and min_shared 5: give"):
        FamilySettings(positions=0)


def test_near_copy_sae_features_share_a_family_in_a_real_feature_file(tmp_path):
    """A ReLU SAE whose features 0-2 have nearly the same encoder direction (and 3-5
    another): encoded to a real feature file, they make two families."""
    from genointerp.sae import Provenance, SAEConfig, build_sae, save_sae
    from tests.builders import store_from_strands

    rng = np.random.default_rng(0)
    plus, minus = (rng.normal(size=(4_000, 8)).astype(np.float32) for _ in range(2))
    store = store_from_strands(tmp_path / "s.h5", plus, minus)
    torch.manual_seed(0)
    sae = build_sae(SAEConfig(architecture="relu", d_sae=10, k=1), 8)
    directions = np.linalg.qr(rng.normal(size=(8, 8)))[0][:, :6].T  # orthonormal, (6, 8)
    enc = np.concatenate([directions[[0, 0, 0, 1, 1, 1]], directions[2:6]])
    enc[:6] += 0.03 * rng.normal(size=(6, 8))
    with torch.no_grad():
        sae.W_enc_param.copy_(torch.from_numpy(enc.T.astype(np.float32)))
        sae.b_enc.fill_(-1.3)  # each fires at about 10% of positions
        sae.b_dec.zero_()
    sae_dir = save_sae(
        sae, tmp_path / "sae", Provenance(model_id="tiny:synthetic", layer="blocks.0", d_model=8)
    )
    fa = gi.features.encode(store, sae_dir, tmp_path / "f.h5")
    labels = assign_families(fa, fa.stats.table()).labels
    fa.close()
    assert labels[0] == labels[1] == labels[2] and labels[3] == labels[4] == labels[5]
    assert len(set(labels)) == 2 + 4
