"""Feature labels and their simulation scores, on planted features."""

from __future__ import annotations

import numpy as np
import pandas as pd

import genointerp as gi
from genointerp.align import BlockSplit
from genointerp.rank import Label

from .test_intervene import planted_genome


class DenseFeatures:
    """In-memory feature activations read like FeatureActivations.dense."""

    def __init__(self, arrays, contigs):
        self.arrays, self.contigs = arrays, contigs

    def dense(self, contig, strand, start=0, end=None, features=None):
        block = self.arrays[(contig, strand)][start:end]
        return block if features is None else block[:, features]


def test_word_hits_on_both_strands():
    genome = gi.io.Genome.from_sequences({"c": "AAGATTACAAAAAAAAAATGTAATCTT"})
    plus = gi.rank.word_hits(genome, "GATTACA", 0, "c", "+", 0, 27)
    assert np.flatnonzero(plus).tolist() == [2]
    shifted = gi.rank.word_hits(genome, "GATTACA", -2, "c", "+", 0, 27)
    assert np.flatnonzero(shifted).tolist() == [4]  # the word starts 2 nt before the position
    # on '-', GATTACA reads 5'->3' from genome position 24 down to 18 (TGTAATC reversed)
    minus = gi.rank.word_hits(genome, "GATTACA", 0, "c", "-", 0, 27)
    assert np.flatnonzero(minus).tolist() == [24]
    assert np.flatnonzero(gi.rank.word_hits(genome, "GATTACA", -2, "c", "-", 0, 27)).tolist() == [
        22
    ]


def test_labels_are_scored_by_simulating_the_feature():
    genome, tracks = planted_genome(seed=4, length=60_000)
    length = genome.lengths["c"]
    rng = np.random.default_rng(0)
    arrays = {}
    for strand in "+-":
        word = gi.rank.word_hits(genome, "ACGTC", -1, "c", strand, 0, length)
        runs = tracks.mask("c", strand, 0, length, concepts=["polya"])[0]
        noise = (rng.random(length) < 0.05).astype(np.float32)
        arrays[("c", strand)] = np.stack([2.0 * word, 1.5 * runs, noise], axis=1)
    features = DenseFeatures(arrays, {"c": length})
    labels = [
        Label(0, "word ACGTC", word="ACGTC", offset=-1),
        Label(1, "poly-A", concept="polya"),
        Label(2, "word ACGTC (wrong)", word="ACGTC", offset=-1),
        Label(2, "unlabelled"),
    ]
    scores = gi.rank.score_labels(
        labels, features, tracks, genome, BlockSplit(block=10_000), positions=30_000, stretch=2000
    )
    assert scores.loc[0, "score"] > 0.99 and scores.loc[1, "score"] > 0.99
    assert abs(scores.loc[2, "score"]) < 0.05
    assert np.isnan(scores.loc[3, "score"]) and scores.loc[3, "kind"] == "none"


def test_labels_from_catalog_evidence():
    rng = np.random.default_rng(1)
    contexts = []
    for _ in range(40):  # a site at the centre of 21 nt, GATC starting 1 nt before it
        left = "".join(rng.choice(list("ACGT"), 9))
        right = "".join(rng.choice(list("ACGT"), 8))
        contexts.append(left + "GATC" + right)
    top = pd.DataFrame({"feature": 5, "context": contexts})
    assert gi.rank.consensus_words(top) == {5: ("GATC", -1)}
    table = pd.DataFrame(
        {
            "feature": [1, 2, 5, 6],
            "class": ["known", "known", "candidate_novel", "dead"],
            "best_concept": ["cds", "intergenic", np.nan, np.nan],
            "phase0": [0.05, 0.3, np.nan, np.nan],
            "phase1": [0.9, 0.3, np.nan, np.nan],
            "phase2": [0.05, 0.4, np.nan, np.nan],
        }
    )
    labels = {label.feature: label for label in gi.rank.make_labels(table, top)}
    assert labels[1].concept == "codon_pos2" and "codon position 2" in labels[1].text
    assert labels[2].concept == "intergenic"
    assert labels[5].word == "GATC" and labels[5].offset == -1 and 6 not in labels


def test_labels_of_a_run_score_its_planted_feature_high(small_run):
    import json

    table = pd.read_csv(small_run / "catalog" / "catalog.tsv", sep="\t")
    top = pd.read_csv(small_run / "catalog" / "top_sites.tsv", sep="\t")
    planted = json.loads((small_run / "run.json").read_text())["planted_feature"]
    labels = gi.rank.make_labels(table, top)
    features = gi.features.FeatureActivations(small_run / "features.h5")
    tracks = gi.concepts.ConceptTracks.read(small_run / "concepts.h5")
    genome = gi.io.Genome.open(small_run / "genome.fa")
    scores = gi.rank.score_labels(
        labels, features, tracks, genome, BlockSplit(block=1500), positions=8000, stretch=1000
    ).set_index("feature")
    assert scores.loc[planted, "kind"] == "concept"
    # the annotated sites are where it fires above half its maximum; it also fires weaker
    assert scores.loc[planted, "score"] > 0.3
    # the run's SAE reads short words by construction: word labels simulate them (0.19-0.90)
    words = scores[scores["kind"] == "word"]["score"]
    assert len(words) >= 3 and words.median() > 0.4 and words.min() > 0.1
    scored = scores["score"].dropna()
    assert len(scored) >= 3 and scored.between(-1, 1).all()


def test_evidence_columns_join_the_catalog_files(run_copy):
    import anndata

    catalog = run_copy / "catalog"
    before = pd.read_csv(catalog / "catalog.tsv", sep="\t")
    extra = pd.DataFrame(
        {"feature": [3, 5], "label": ["word ACG", "cds"], "label_score": [0.8, 0.1]}
    )
    added = gi.rank.add_evidence(catalog, extra)
    assert added == ["label", "label_score"]
    after = pd.read_csv(catalog / "catalog.tsv", sep="\t").set_index("feature")
    assert len(after) == len(before) and after.loc[3, "label_score"] == 0.8
    assert np.isnan(after.loc[4, "label_score"])
    obs = anndata.read_h5ad(catalog / "catalog.h5ad").obs.set_index("feature")
    assert obs.loc[5, "label"] == "cds" and obs.loc[4, "label"] == ""
    gi.rank.add_evidence(catalog, extra.assign(label_score=[0.5, 0.2]))  # replaced, not doubled
    again = pd.read_csv(catalog / "catalog.tsv", sep="\t")
    assert (
        list(again.columns).count("label_score") == 1
        and again.set_index("feature").loc[3, "label_score"] == 0.5
    )
    # update: only the given features change, the others keep what earlier calls wrote
    gi.rank.add_evidence(catalog, pd.DataFrame({"feature": [4], "label_score": [0.3]}), update=True)
    updated = pd.read_csv(catalog / "catalog.tsv", sep="\t").set_index("feature")
    assert updated.loc[[3, 4, 5], "label_score"].tolist() == [0.5, 0.3, 0.2]
    obs = anndata.read_h5ad(catalog / "catalog.h5ad").obs.set_index("feature")
    assert obs.loc[[3, 4, 5], "label_score"].tolist() == [0.5, 0.3, 0.2]
    gi.rank.add_evidence(catalog, pd.DataFrame({"feature": [4], "label_score": [0.9]}))
    replaced = pd.read_csv(catalog / "catalog.tsv", sep="\t").set_index("feature")
    assert replaced.loc[4, "label_score"] == 0.9 and np.isnan(replaced.loc[3, "label_score"])
