"""Motif evidence: MEME files, PWMs from sites, information content, TOMTOM-style matches."""

from __future__ import annotations

import gzip
import math
import os

import numpy as np
import pytest

from genointerp.errors import GenointerpError, InputFormatError
from genointerp.rank._motifs import (
    RESULT_COLUMNS,
    Motif,
    best_match,
    compare,
    comparisons,
    information_content,
    pwm_from_sites,
    read_meme,
    resolve_method,
    reverse_complement,
    trim,
)

JASPAR = "regulatory/JASPAR2024_CORE_non-redundant_all_taxa.meme.gz"
REST = "MA0138.3"  # 20 columns, unlike any other JASPAR profile

TOY_MEME = """MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.25 C 0.25 G 0.25 T 0.25

MOTIF M1 first
letter-probability matrix: alength= 4 w= 2 nsites= 10 E= 0
 1.0 0.0 0.0 0.0
 0.1 0.2 0.3 0.4
log-odds matrix: alength= 4 w= 2
 1.9 -3.3 -3.3 -3.3
 -1.3 -0.3 0.3 0.6

MOTIF M2
letter-probability matrix: alength= 4
 0.25 0.25 0.25 0.25
 0 0 0 1
 0 0 1 0

URL http://example.org/M2
"""


@pytest.fixture(scope="module")
def jaspar(mirror):
    """JASPAR 2024 CORE non-redundant, all taxa, from the mirror (fails under CI=true)."""
    path = mirror / JASPAR
    if not path.exists():
        message = f"{path} is missing from the reference data mirror"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return read_meme(path)


@pytest.fixture(scope="module")
def rest_sample(jaspar):
    """PWM of 50 sites drawn from JASPAR's REST profile with a seeded generator."""
    rest = next(motif for motif in jaspar if motif.id == REST)
    rng = np.random.default_rng(7)
    letters = np.array(list("ACGT"))
    columns = [letters[rng.choice(4, size=50, p=row)] for row in rest.pwm]  # L x (50,)
    return pwm_from_sites(["".join(site) for site in np.stack(columns, axis=1)])


def onehot(letters: str) -> np.ndarray:
    return np.array([[float(base == letter) for letter in "ACGT"] for base in letters])


# -- MEME files ------------------------------------------------------------------------


@pytest.mark.realdata
def test_read_meme_jaspar(jaspar):
    assert len(jaspar) == 2346
    assert len({motif.id for motif in jaspar}) == 2346
    arnt = next(motif for motif in jaspar if motif.id == "MA0004.1")
    assert (arnt.name, len(arnt)) == ("Arnt", 6)
    np.testing.assert_allclose(arnt.pwm[0], [0.2, 0.8, 0, 0])
    np.testing.assert_allclose(arnt.pwm[-1], [0, 0, 1, 0])
    assert (jaspar[0].id, jaspar[0].name, len(jaspar[0])) == ("MA0001.3", "AGL3", 10)
    for motif in jaspar:
        np.testing.assert_allclose(motif.pwm.sum(axis=1), 1, atol=1e-12)
    assert not arnt.pwm.flags.writeable


def test_read_meme_plain_and_gzip_agree(tmp_path):
    plain, packed = tmp_path / "toy.meme", tmp_path / "toy.meme.gz"
    plain.write_text(TOY_MEME)
    packed.write_bytes(gzip.compress(TOY_MEME.encode()))
    for path in (plain, packed):
        first, second = read_meme(path)
        assert (first.id, first.name, second.id, second.name) == ("M1", "first", "M2", "M2")
        np.testing.assert_allclose(first.pwm, [[1, 0, 0, 0], [0.1, 0.2, 0.3, 0.4]])
        np.testing.assert_allclose(second.pwm, [[0.25] * 4, [0, 0, 0, 1], [0, 0, 1, 0]])


HEADER = "MEME version 4\n\nALPHABET= ACGT\n\n"  # lines 1-4


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("MOTIF M1\nletter-probability matrix: w= 2\n1 0 0\n0 1 0 0\n", 7, "has 3 values"),
        ("MOTIF M1\nletter-probability matrix: w= 2\n1 0 0 0\n0 1 x 0\n", 8, "not a number"),
        ("MOTIF M1\nletter-probability matrix: w= 1\n5 3 1 1\n", 7, r"sum 10"),
        ("MOTIF M1\nletter-probability matrix: w= 3\n1 0 0 0\nMOTIF M2\n", 8, "w= 3"),
        ("MOTIF M1\nletter-probability matrix: w= 1\n1 0 0 0\n0 1 0 0\n", 8, "more matrix rows"),
        ("MOTIF M1\nletter-probability matrix: alength= 20 w= 1\n", 6, "alength= 20"),
        ("MOTIF M1\nURL x\nMOTIF M2\n", 5, "no letter-probability matrix"),
        ("letter-probability matrix: w= 1\n1 0 0 0\n", 5, "before any MOTIF"),
    ],
)
def test_malformed_meme_names_file_line_and_fix(tmp_path, body, line, problem):
    path = tmp_path / "bad.meme"
    path.write_text(HEADER + body)
    with pytest.raises(
        InputFormatError, match=rf"bad\.meme, line {line}.*{problem}.*Fix: "
    ) as info:
        read_meme(path)
    assert isinstance(info.value, GenointerpError)
    assert info.value.line == line
    assert "\n" not in str(info.value)


def test_meme_protein_alphabet_and_empty_file_are_refused(tmp_path):
    path = tmp_path / "protein.meme"
    path.write_text("MEME version 4\n\nALPHABET= ACDEFGHIKLMNPQRSTVWY\n")
    with pytest.raises(InputFormatError, match=r"line 3: alphabet .* is not DNA. Fix: "):
        read_meme(path)
    path.write_text("MEME version 4\n\nALPHABET= ACGT\n")
    with pytest.raises(InputFormatError, match="holds no MOTIF records. Fix: "):
        read_meme(path)


# -- matrices --------------------------------------------------------------------------


def test_pwm_from_sites_by_hand():
    # column 1: A x3 -> (3 + 0.25) / (3 + 1) and 0.25 / 4 for C, G, T
    # column 2: C, G, N -> counts 0.25, 1.25, 1.25, 0.25, plus 0.25 each, over 4
    pwm = pwm_from_sites(["AC", "ag", "AN"], pseudocount=0.25)
    np.testing.assert_allclose(
        pwm, [[0.8125, 0.0625, 0.0625, 0.0625], [0.125, 0.375, 0.375, 0.125]]
    )
    np.testing.assert_allclose(
        pwm_from_sites(["AT", "TT"], pseudocount=0), [[0.5, 0, 0, 0.5], [0, 0, 0, 1]]
    )


def test_pwm_from_sites_refuses_ragged_or_no_sites():
    with pytest.raises(ValueError, match=r"different lengths \(2, 3\).*Fix: "):
        pwm_from_sites(["AC", "ACG"])
    with pytest.raises(ValueError, match="Fix: "):
        pwm_from_sites([])


def test_information_content():
    pwm = [[1, 0, 0, 0], [0.25] * 4, [0.5, 0.5, 0, 0]]
    np.testing.assert_allclose(information_content(pwm), [2, 0, 1])
    # against a background of A 0.5: a certain A is log2(1 / 0.5) = 1 bit
    np.testing.assert_allclose(information_content([[1, 0, 0, 0]], [0.5, 0.2, 0.2, 0.1]), [1])


def test_trim_keeps_inner_low_columns_and_reports_offset():
    flat = [0.25] * 4
    pwm = np.array([flat, [1, 0, 0, 0], flat, [0, 0, 0, 1], flat, flat])
    core, start = trim(pwm)
    assert start == 1
    np.testing.assert_array_equal(core, pwm[1:4])
    core, start = trim(np.array([flat, flat]))
    assert core.shape == (0, 4) and start == 0


def test_reverse_complement():
    pwm = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1]])
    np.testing.assert_allclose(
        reverse_complement(pwm), [[0.1, 0.2, 0.6, 0.1], [0.1, 0.1, 0.1, 0.7]]
    )
    np.testing.assert_allclose(reverse_complement(reverse_complement(pwm)), pwm)


# -- comparison ------------------------------------------------------------------------


def test_compare_score_by_hand():
    # centred columns: a = (.45, -.15, -.15, -.15), c = (-.15, .45, -.15, -.15), |a|^2 = .27;
    # target column 2 t = (.4, .4, .1, .1) - .25 = (.15, .15, -.15, -.15), |t|^2 = .09.
    # corr(a, a) = 1, corr(c, t) = .09 / sqrt(.27 * .09) = 1 / sqrt(3): '+' at offset 0 scores
    # 1 + 1/sqrt(3); single-column overlaps score at most 1/sqrt(3) and the reverse strand
    # (G, T) nowhere scores above 0.
    query = [[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1]]
    target = Motif("T1", "t", [[0.7, 0.1, 0.1, 0.1], [0.4, 0.4, 0.1, 0.1]])
    hit = best_match(query, [target], min_overlap=1, n_null=200)
    assert hit["score"] == pytest.approx(1 + 1 / math.sqrt(3))
    assert (hit["offset"], hit["orientation"], hit["overlap"]) == (0, "+", 2)
    # the only other column order scores 1 (query column A over target column 1), so about
    # half the shuffles tie with the query: p near 1/2
    assert 0.3 < hit["p_value"] < 0.7
    assert hit["e_value"] == hit["q_value"] == hit["p_value"]


def test_compare_offsets_and_strands_on_one_hot_motifs():
    target = Motif("T1", "t", onehot("GGACGTTA"))
    hit = best_match(onehot("CGTT"), [target], min_overlap=4, n_null=100)
    assert hit["score"] == pytest.approx(4)
    assert (hit["offset"], hit["orientation"], hit["overlap"]) == (3, "+", 4)
    hit = best_match(onehot("AACG"), [target], min_overlap=4, n_null=100)  # rc = CGTT
    assert (hit["score"], hit["offset"], hit["orientation"]) == (pytest.approx(4), 3, "-")
    hit = best_match(onehot("TTATCC"), [target], min_overlap=3, n_null=100)  # TTA hangs off
    assert (hit["score"], hit["offset"], hit["overlap"]) == (pytest.approx(3), 5, 3)


@pytest.mark.realdata
def test_sampled_rest_matches_rest_on_both_strands(jaspar, rest_sample):
    forward = compare(rest_sample, jaspar, method="builtin")
    assert list(forward.columns) == list(RESULT_COLUMNS)
    assert len(forward) == len(jaspar)
    top = forward.iloc[0]
    assert (top["id"], top["name"], top["orientation"], top["offset"]) == (REST, "REST", "+", 0)
    assert top["p_value"] <= 1e-3 and top["e_value"] < 1
    assert top["score"] > 2 * forward["score"].iloc[1:].max()
    core = reverse_complement(rest_sample[4:16])  # target columns 4-15, other strand
    top = best_match(core, jaspar, method="builtin")
    assert (top["id"], top["orientation"], top["offset"], top["overlap"]) == (REST, "-", 4, 12)
    assert top["p_value"] <= 1e-3


@pytest.mark.realdata
def test_random_queries_give_uniform_p_values(jaspar):
    rng = np.random.default_rng(3)
    p_values = np.concatenate(
        [
            compare(rng.dirichlet(np.ones(4), size=12), jaspar, method="builtin")["p_value"]
            for _ in range(3)
        ]
    )
    assert 0.02 <= np.mean(p_values < 0.05) <= 0.10
    assert 0.40 <= np.mean(p_values < 0.5) <= 0.60


@pytest.mark.realdata
def test_result_columns_are_consistent(jaspar, rest_sample):
    frame = compare(rest_sample[:10], jaspar[:300], n_null=500, method="builtin")
    assert frame["p_value"].is_monotonic_increasing
    np.testing.assert_allclose(frame["e_value"], frame["p_value"] * 300)
    assert (frame["q_value"] >= frame["p_value"]).all() and (frame["q_value"] <= 1).all()
    assert frame["q_value"].is_monotonic_increasing
    assert set(frame["orientation"]) <= {"+", "-"}
    lengths = frame["id"].map({motif.id: len(motif) for motif in jaspar[:300]})
    assert (frame["overlap"] >= np.minimum(5, lengths)).all()
    assert frame["p_value"].min() >= 1 / 501


def test_compare_with_no_motifs_or_bad_input():
    assert best_match(onehot("ACGT"), []) is None
    assert list(compare(onehot("ACGT"), []).columns) == list(RESULT_COLUMNS)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        compare([0.25] * 4, [Motif("T1", "t", onehot("ACGT"))])
    with pytest.raises(ValueError, match="method 'fast'"):
        compare(onehot("ACGT"), [Motif("T1", "t", onehot("ACGT"))], method="fast")


@pytest.mark.slow
@pytest.mark.realdata
def test_memelite_backend_agrees_on_the_top_hit(jaspar, rest_sample):
    pytest.importorskip("memelite")
    core = reverse_complement(rest_sample[4:16])
    top = compare(core, jaspar, method="memelite").iloc[0]
    assert (top["id"], top["orientation"], top["offset"], top["overlap"]) == (REST, "-", 4, 12)
    assert top["p_value"] < 1e-6


def test_auto_runs_the_builtin_comparison_on_few_targets():
    motifs = [Motif("T1", "t", onehot("GGACGTTA")), Motif("T2", "u", onehot("CCCA"))]
    auto = compare(onehot("CGTT"), motifs, min_overlap=4, n_null=300)
    builtin = compare(onehot("CGTT"), motifs, min_overlap=4, n_null=300, method="builtin")
    assert auto.equals(builtin)
    assert resolve_method("auto", 24) == "builtin"
    assert resolve_method("builtin", 3000) == "builtin"


@pytest.mark.realdata
def test_auto_is_memelite_on_a_database_and_reaches_below_the_builtin_floor(jaspar, rest_sample):
    pytest.importorskip("memelite")
    assert resolve_method("auto", len(jaspar)) == "memelite"
    core = reverse_complement(rest_sample[4:16])
    auto = compare(core, jaspar)
    assert auto.equals(compare(core, jaspar, method="memelite"))
    top = auto.iloc[0]
    assert (top["id"], top["orientation"], top["offset"], top["overlap"]) == (REST, "-", 4, 12)
    assert top["p_value"] < 1e-6  # the built-in comparison stops at 1 / (1 + n_null) ~ 1e-4


@pytest.mark.realdata
def test_batched_comparisons_equal_one_query_at_a_time(jaspar, rest_sample):
    pytest.importorskip("memelite")
    queries = [rest_sample[:10], reverse_complement(rest_sample[4:16]), rest_sample[8:]]
    batch = comparisons(queries, jaspar)
    for query, raw in zip(queries, batch, strict=True):
        alone = comparisons([query], jaspar)[0]
        for got, expected in zip(raw, alone, strict=True):
            np.testing.assert_allclose(got, expected)
