"""Counting engine, scores, selection and null: hand-computed cases and a plain reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import genointerp as gi
from genointerp.align import ArraySource, BlockSplit, WholeSplit, count
from genointerp.align._counts import levels, threshold_table
from genointerp.align._reference import reference_counts
from genointerp.concepts import ConceptSpec, ConceptTracks, Select


def make_tracks(rows, lengths, stranded=None):
    """ConceptTracks from (concept, contig, start, end, strand, element, frame) rows."""
    table = pd.DataFrame(
        rows, columns=["Concept", "Chromosome", "Start", "End", "Strand", "Element", "Frame"]
    )
    concepts = list(dict.fromkeys(table["Concept"]))
    stranded = stranded or {}
    specs = [
        ConceptSpec(name=c, label=c, select=[Select(feature=["x"])], stranded=stranded.get(c, True))
        for c in concepts
    ]
    return ConceptTracks(specs, table, lengths, genome_checksum="")


def test_hand_computed_counts():
    # one contig of 20 nt, '+' only; concept A: elements a1 = [2, 5), a2 = [10, 12)
    tracks = make_tracks(
        [("A", "c", 2, 5, "+", "a1", -1), ("A", "c", 10, 12, "+", "a2", -1)], {"c": 20}
    )
    acts = np.zeros((20, 2), dtype=np.float32)
    acts[[3, 4, 15], 0] = [1.0, 0.4, 0.2]  # feature 0: max 1.0
    acts[[10, 11, 12], 1] = [2.0, 2.0, 2.0]  # feature 1: max 2.0
    source = ArraySource({("c", "+"): acts})
    counts = count(source, tracks, split=WholeSplit())
    at = counts.at_least("test", [0.0, 0.3, 0.5])
    # feature 0 at > 0: active {3, 4, 15}, tp {3, 4}, element a1 hit
    # at >= 0.3: {3, 4}; at >= 0.5: {3}
    assert at["active"][0].tolist() == [3, 2, 1]
    assert at["tp"][0, 0].tolist() == [2, 2, 1]
    assert at["hits"][0, 0].tolist() == [1, 1, 1]
    # feature 1: active {10, 11, 12} at every threshold, tp {10, 11}, a2 hit
    assert at["active"][1].tolist() == [3, 3, 3]
    assert at["tp"][0, 1].tolist() == [2, 2, 2]
    assert counts.positives.tolist() == [[5]]
    assert counts.elements.tolist() == [[2]]
    scores = gi.align.scores(counts, "test", [0.0, 0.3, 0.5])
    # feature 0 at 0.3: precision 2/2, recall 2/5, element recall 1/2, element-F1 2/3
    assert scores["precision"][0, 0, 1] == pytest.approx(1.0)
    assert scores["recall"][0, 0, 1] == pytest.approx(0.4)
    assert scores["element_recall"][0, 0, 1] == pytest.approx(0.5)
    assert scores["element_f1"][0, 0, 1] == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert scores["f1"][0, 0, 0] == pytest.approx(2 * (2 / 3) * 0.4 / (2 / 3 + 0.4))
    # AUROC of feature 1 for A: positives {2,3,4,10,11}, negatives the other 15 positions.
    # Pairs: 2 positives at level L vs 14 zero negatives (win) and 1 at L (tie);
    # 3 positives at 0 vs 14 zero negatives (tie) and 1 above (loss).
    wins = 2 * 14 + 0.5 * 2 * 1 + 0.5 * 3 * 14
    assert counts.auroc("test")[0, 1] == pytest.approx(wins / (5 * 15))


def test_levels_are_exact_at_threshold_boundaries():
    scale = np.array([1.0, 3.0, 0.7], dtype=np.float32)
    table = threshold_table(scale, 20)
    feats = np.repeat(np.arange(3), 20 * 3)
    # values exactly on, one ulp below and one ulp above every threshold
    on = table[feats[::3], np.tile(np.arange(20), 3)]
    values = np.stack([np.nextafter(on, 0), on, np.nextafter(on, 10)], 1).ravel()
    got = levels(values.astype(np.float32), feats, table)
    expect = 1 + (values[:, None] >= table[feats]).sum(1)
    assert np.array_equal(got, expect)


def random_case(seed=0, n_features=7):
    rng = np.random.default_rng(seed)
    lengths = {"c1": 900, "c2": 500}
    rows = []
    for contig, n in lengths.items():
        for e in range(12):
            s = int(rng.integers(0, n - 40))
            rows.append(
                ("gene", contig, s, s + int(rng.integers(5, 40)), "+-"[e % 2], f"g{contig}{e}", -1)
            )
            rows.append(("codon", contig, s, s + 30, "+-"[e % 2], f"k{contig}{e}", e % 3))
        for e in range(6):
            s = int(rng.integers(0, n - 10))
            rows.append(("site", contig, s, s + 3, ".", f"s{contig}{e}", -1))
    tracks = make_tracks(rows, lengths, stranded={"site": False})
    dense = {}
    for contig, n in lengths.items():
        for strand in "+-":
            a = rng.exponential(1.0, (n, n_features)).astype(np.float16).astype(np.float32)
            a[rng.random((n, n_features)) < 0.8] = 0
            dense[(contig, strand)] = a
    return tracks, dense


@pytest.mark.parametrize("split", [BlockSplit(block=100), WholeSplit()])
def test_engine_equals_plain_reference(split):
    tracks, dense = random_case()
    source = ArraySource(dense)
    fractions = (0.0, 0.15, 0.3, 0.5, 0.6, 0.8)
    counts = count(source, tracks, split=split, chunk_rows=128)
    ref = reference_counts(dense, tracks, counts.scale, fractions, split, tracks.concepts)
    assert np.array_equal(counts.positives, ref["positives"])
    assert np.array_equal(counts.elements, ref["elements"])
    for s, name in enumerate(split.names):
        at = counts.at_least(name, fractions)
        assert np.array_equal(at["active"], ref["active"][s])
        assert np.array_equal(at["tp"], ref["tp"][s])
        assert np.array_equal(at["hits"], ref["hits"][s])


def test_auroc_equals_sklearn_on_the_level_grid():
    from sklearn.metrics import roc_auc_score

    tracks, dense = random_case(seed=3)
    counts = count(ArraySource(dense), tracks, split=WholeSplit())
    table = threshold_table(counts.scale, counts.resolution)
    for c, concept in enumerate(tracks.concepts):
        for f in range(3):
            y, score = [], []
            for (contig, strand), a in dense.items():
                y.append(tracks.mask(contig, strand, 0, len(a), [concept])[0])
                v = a[:, f]
                lv = np.where(v > 0, levels(v, np.full(len(v), f), table), 0)
                score.append(lv)
            expect = roc_auc_score(np.concatenate(y), np.concatenate(score))
            assert counts.auroc("test")[c, f] == pytest.approx(expect, abs=1e-12)


def nonoverlapping_case(seed=1):
    rng = np.random.default_rng(seed)
    lengths = {"c1": 3000, "c2": 2000}
    rows = []
    for contig, n in lengths.items():
        for i, a in enumerate(range(40, n - 120, 150)):
            rows.append(
                ("gene", contig, a, a + int(rng.integers(30, 90)), "+-"[i % 2], f"{contig}g{i}", -1)
            )
    return make_tracks(rows, lengths), lengths


def test_shift_null_observed_equals_engine_and_planted_feature_is_significant():
    from genointerp.align._null import shift_test
    from genointerp.align._positions import ConceptArrays, GenomeIndex, indicator

    tracks, lengths = nonoverlapping_case()
    split = BlockSplit(block=500)
    index = GenomeIndex(lengths, ["+", "-"])
    arrays = ConceptArrays(tracks, index, split)
    mask = arrays.get("gene")[0]
    rng = np.random.default_rng(0)
    planted = mask & (rng.random(index.size) < 0.5)  # half of every gene's positions
    noise = rng.random(index.size) < 0.05
    for active, significant in ((planted, True), (noise, False)):
        engine = arrays.element_f1(active, "gene", 1)
        test = shift_test(active, "gene", arrays, 1, n_shifts=199, seed=1)
        assert test["observed"] == pytest.approx(engine["element_f1"], abs=1e-12)
        if significant:
            assert test["p_value"] == pytest.approx(1 / 200)
        else:
            assert test["p_value"] > 0.05
    # the engine's counts agree with the whole-genome arrays for the planted activity
    dense = {}
    for strand in "+-":
        for contig, n in lengths.items():
            base = index.base(contig, strand)
            dense[(contig, strand)] = planted[base : base + n, None].astype(np.float32)
    counts = count(ArraySource(dense), tracks, split=split)
    at = counts.at_least("test", [0.0])
    engine = arrays.element_f1(indicator(index.size, np.flatnonzero(planted)), "gene", 1)
    assert at["tp"][0, 0, 0] == engine["tp"] and at["hits"][0, 0, 0] == engine["hits"]


def test_benjamini_hochberg_by_hand():
    q = gi.align.benjamini_hochberg([0.01, 0.04, 0.03, 0.5, np.nan])
    np.testing.assert_allclose(q[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.5])
    assert np.isnan(q[4])


def test_feature_set_recovers_a_concept_split_by_codon_position():
    tracks, lengths = nonoverlapping_case(seed=2)
    dense = {}
    for contig, n in lengths.items():
        for strand in "+-":
            a = np.zeros((n, 4), dtype=np.float32)
            m = tracks.mask(contig, strand, 0, n, ["gene"])[0]
            for j in range(3):  # feature j: gene positions with p % 3 == j
                a[m & (np.arange(n) % 3 == j), j] = 1.0
            a[np.random.default_rng(n).random(n) < 0.02, 3] = 1.0  # a noise feature
            dense[(contig, strand)] = a
    result = gi.align.align(ArraySource(dense), tracks, split=BlockSplit(block=500), n_shifts=50)
    row = result.concepts.iloc[0]
    assert sorted(int(f) for f in row["set_features"].split(",")) == [0, 1, 2]
    assert row["set_test_recall"] == pytest.approx(1.0)
    assert row["single_test_recall"] < 0.4
    assert row["set_test_precision"] == pytest.approx(1.0)


def planted_source(tracks, lengths, fraction, seed):
    """Feature 0 fires (value 1) on ``fraction`` of the gene positions; feature 1 is noise."""
    rng = np.random.default_rng(seed)
    dense = {}
    for contig, n in lengths.items():
        for strand in "+-":
            a = np.zeros((n, 2), dtype=np.float32)
            m = tracks.mask(contig, strand, 0, n, ["gene"])[0]
            a[m & (rng.random(n) < fraction), 0] = 1.0
            a[rng.random(n) < 0.05, 1] = 1.0
            dense[(contig, strand)] = a
    return ArraySource(dense)


def test_transfer_scores_thresholds_on_another_genome_with_p_values():
    tracks, lengths = nonoverlapping_case(seed=2)
    result = gi.align.align(
        planted_source(tracks, lengths, 1.0, 0), tracks, split=BlockSplit(block=500), n_shifts=50
    )
    other_tracks, other_lengths = nonoverlapping_case(seed=3)
    other = planted_source(other_tracks, other_lengths, 0.5, 1)
    counts = count(other, other_tracks, scale=result.counts.scale, split=WholeSplit())
    table = gi.align.transfer(
        result, counts, source=other, tracks=other_tracks, n_shifts=99, seed=0
    ).set_index("concept")
    row = table.loc["gene"]
    assert row["feature"] == 0
    # half of each gene's positions fire: every element found, every active position in a gene
    positives = sum(
        int(other_tracks.mask(c, s, 0, n, ["gene"])[0].sum())
        for c, n in other_lengths.items()
        for s in "+-"
    )
    assert row["precision"] == 1.0 and row["element_recall"] == 1.0
    assert row["element_f1"] == 1.0 and row["positives"] == positives
    assert 0.4 < row["recall"] < 0.6
    assert row["p_value"] == pytest.approx(1 / 100) and row["q_value"] == pytest.approx(1 / 100)
    per_feature = gi.align.transfer(
        result,
        counts,
        best="feature",
        source=other,
        tracks=other_tracks,
        min_effect=1.0,
        n_shifts=99,
    ).set_index("feature")
    assert per_feature.loc[0, "concept"] == "gene" and per_feature.loc[0, "element_f1"] == 1.0
    assert per_feature.loc[0, "p_value"] == pytest.approx(1 / 100)
    assert per_feature.loc[1, "element_f1"] < 1.0 and np.isnan(per_feature.loc[1, "p_value"])
