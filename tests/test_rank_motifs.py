"""Ranking against known motifs: a candidate whose top-site PWM matches a motif concept
(e.g. Chi) through TOMTOM is known by motif; a random word stays a candidate."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import genointerp as gi
from genointerp.concepts import load_catalog
from genointerp.rank._motifs import pwm_from_sites
from genointerp.rank._rank import _motif_matches, motif_concepts
from tests.test_motifs import jaspar  # noqa: F401 - the JASPAR fixture (mirror)

WORDS = {0: "GCTGGTGG", 1: "GATC", 2: "AGGAGG", 3: "CATTGCAG", 4: "ACGCTTAA"}
#        Chi         Dam     Shine-Dalgarno   random words


@pytest.fixture(scope="module")
def known():
    tracks = SimpleNamespace(specs=load_catalog("annotations/bacterial_motifs.yaml").concepts)
    return motif_concepts(tracks)


def planted_pwms(seed: int = 1) -> dict[int, np.ndarray]:
    """PWMs of 50 sites of 21 nt: each word in the middle, random flanks."""
    rng = np.random.default_rng(seed)
    pwms = {}
    for feature, word in WORDS.items():
        sites = []
        for _ in range(50):
            flank = "".join(rng.choice(list("ACGT"), size=21))
            start = 10 - len(word) // 2
            sites.append(flank[:start] + word + flank[start + len(word) :])
        pwms[feature] = pwm_from_sites(sites)
    return pwms


def candidates_table() -> pd.DataFrame:
    """Every feature a structured, reproducible candidate matching no annotated element."""
    return pd.DataFrame(
        {
            "feature": list(WORDS),
            "density": 0.01,
            "test_element_f1": 0.1,
            "q_value": 0.5,
            "motif_ic": 9.0,
            "reproducibility": 0.9,
            "shape": "motif",
        }
    )


def test_motif_concepts_become_motifs(known):
    assert [m.id for m in known][:4] == [
        "shine_dalgarno",
        "sigma70_minus10",
        "sigma70_minus35",
        "chi_site",
    ]
    dnaa = next(m for m in known if m.id == "dnaa_box")  # TTWTNCACA
    np.testing.assert_allclose(dnaa.pwm[2], [0.5, 0, 0, 0.5])
    np.testing.assert_allclose(dnaa.pwm[4], [0.25] * 4)
    assert motif_concepts(SimpleNamespace(specs=load_catalog("regulatory").concepts)) == []


@pytest.mark.realdata
def test_chi_gatc_and_sd_features_are_known_by_motif_random_words_stay_candidates(
    known,
    jaspar,  # noqa: F811 - the imported fixture
):
    pytest.importorskip("memelite")
    settings = gi.rank.RankSettings()
    table = candidates_table()
    assert set(gi.rank.classify(table, settings)) == {"candidate_novel"}
    hits = _motif_matches(list(WORDS), planted_pwms(), known, jaspar, settings)
    table = table.merge(hits, on="feature")
    table["class"] = gi.rank.classify(table, settings)
    got = table.set_index("feature")
    assert got.loc[0, "motif_match"] == "chi_site" and got.loc[0, "motif_p"] < 1e-6
    assert got.loc[1, "motif_match"] == "dam_site" and got.loc[1, "motif_q"] < 0.01
    assert got.loc[2, "motif_match"] == "shine_dalgarno"
    classes = ["known", "known", "known", "candidate_novel", "candidate_novel"]
    assert got["class"].tolist() == classes
    assert (got.loc[[3, 4], "motif_q"] > 0.3).all()
    # q is over every candidate x motif comparison, so never below the feature's own p
    assert (got["motif_q"] >= got["motif_p"]).all()


def test_without_memelite_background_the_builtin_comparison_runs(known):
    # 10 targets and no background: 'auto' falls back to the built-in comparison, whose
    # p-values stop near 1e-4 and whose shuffled-column null finds G-rich Chi weak
    settings = gi.rank.RankSettings()
    hits = _motif_matches(list(WORDS), planted_pwms(), known, [], settings)
    assert (hits["motif_p"] >= 1 / 10_001).all()
    assert hits.set_index("feature").loc[0, "motif_match"] == "chi_site"
    explicit = gi.rank.RankSettings(compare="builtin")
    builtin = _motif_matches(list(WORDS), planted_pwms(), known, [], explicit)
    pd.testing.assert_frame_equal(hits, builtin)


def test_no_motif_concepts_or_candidates_gives_empty_matches(known):
    settings = gi.rank.RankSettings()
    empty = _motif_matches([], planted_pwms(), known, [], settings)
    assert empty.empty and list(empty.columns) == ["feature", "motif_match", "motif_p", "motif_q"]
    assert _motif_matches([0], planted_pwms(), [], [], settings).empty
    table = candidates_table().merge(empty, on="feature", how="left")
    assert set(gi.rank.classify(table, settings)) == {"candidate_novel"}
