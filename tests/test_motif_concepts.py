"""Motif concepts: scanning a consensus or PWM on both strands, ``within`` regions, the
shipped bacterial motif catalog, and bad motif specs."""

from __future__ import annotations

import itertools
import re
import time

import numpy as np
import pandas as pd
import pytest

from genointerp.concepts import ConceptSpec, load_catalog
from genointerp.concepts._derive import PART_COLUMNS, derive
from genointerp.concepts._motif import IUPAC, MotifSpec, motif_parts, within
from genointerp.errors import ConfigError
from genointerp.io import Genome

COMPLEMENT = str.maketrans("ACGT", "TGCA")
BASES = {"A": "A", "C": "C", "G": "G", "T": "T", "W": "AT", "N": "ACGT", "R": "AG", "Y": "CT"}
PAIRS = {"A": "T", "C": "G", "G": "C", "T": "A", "W": "W", "N": "N", "R": "Y", "Y": "R"}


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def concept(name="m", stranded=True, **motif) -> ConceptSpec:
    return ConceptSpec(name, name, stranded=stranded, motif=MotifSpec(**motif))


def starts(parts: pd.DataFrame, strand: str) -> list[int]:
    return sorted(parts.loc[parts["Strand"] == strand, "Start"].tolist())


def occurrences(text: str, word: str) -> list[int]:
    """Overlapping exact occurrences, by plain string search."""
    found, i = [], text.find(word)
    while i >= 0:
        found.append(i)
        i = text.find(word, i + 1)
    return found


def revcomp_iupac(consensus: str) -> str:
    return "".join(PAIRS[c] for c in reversed(consensus))


def hamming_sites(text: str, consensus: str, mismatches: int) -> list[int]:
    """Windows of ``text`` within ``mismatches`` of an IUPAC consensus, by brute force."""
    width = len(consensus)
    return [
        i
        for i in range(len(text) - width + 1)
        if sum(b not in BASES[c] for b, c in zip(text[i : i + width], consensus, strict=True))
        <= mismatches
    ]


@pytest.fixture(scope="module")
def ecoli_genome(mirror):
    import genointerp as gi

    dataset = gi.datasets.load("ecoli_k12")
    genome = dataset.genome()
    return dataset, genome, genome.fetch(genome.names[0])


# -- scanning ----------------------------------------------------------------------------


def test_site_on_minus_strand_in_genomic_coordinates():
    # GCTGGTGG on '-' reads CCACCAGC on '+', at 3..11
    genome = Genome.from_sequences({"c": "AAACCACCAGCTTT"})
    parts = motif_parts(concept(consensus="GCTGGTGG"), genome)
    assert list(parts.columns) == PART_COLUMNS
    assert parts[["Chromosome", "Start", "End", "Strand"]].values.tolist() == [["c", 3, 11, "-"]]
    assert (parts["Frame"] == -1).all() and (parts["Phase"] == -1).all()
    assert genome.fetch("c", 3, 11) == revcomp("GCTGGTGG")


def test_palindrome_gives_a_site_on_each_strand_and_unstranded_gives_one():
    genome = Genome.from_sequences({"c": "TTGATCTTGATC"})
    parts = motif_parts(concept(consensus="GATC"), genome)
    assert starts(parts, "+") == starts(parts, "-") == [2, 8]
    assert parts["Element"].is_unique
    flat = motif_parts(concept(consensus="GATC", stranded=False), genome)
    assert flat[["Start", "Strand"]].values.tolist() == [[2, "."], [8, "."]]
    assert flat["Element"].is_unique


def test_windows_with_n_are_never_sites_and_short_contigs_have_none():
    genome = Genome.from_sequences({"a": "GANCGATC", "b": "GAT"})
    parts = motif_parts(concept(consensus="GATC", max_mismatches=1), genome)
    # GANC holds an N; GATC at 4 on both strands; contig b is shorter than the motif
    assert sorted(set(parts["Start"])) == [4]
    assert set(parts["Chromosome"]) == {"a"}


def test_site_across_the_origin_of_a_circular_contig_is_one_element_of_two_parts():
    genome = Genome.from_sequences({"c": "TCAAAAAAGA"}, circular=["c"])
    parts = motif_parts(concept(consensus="GATC"), genome)
    assert parts[["Start", "End", "Strand"]].values.tolist() == [
        [0, 2, "+"],
        [0, 2, "-"],
        [8, 10, "+"],
        [8, 10, "-"],
    ]
    assert parts["Element"].nunique() == 2
    linear = Genome.from_sequences({"c": "TCAAAAAAGA"})
    assert motif_parts(concept(consensus="GATC"), linear).empty


def test_mismatches_match_a_brute_force_search():
    rng = np.random.default_rng(11)
    text = "".join(rng.choice(list("ACGT"), size=20_000))
    genome = Genome.from_sequences({"c": text})
    for consensus, k in [("AGGAGG", 1), ("TTWTNCACA", 2), ("GCTGGTGG", 0)]:
        parts = motif_parts(concept(consensus=consensus, max_mismatches=k), genome)
        assert starts(parts, "+") == hamming_sites(text, consensus, k)
        assert starts(parts, "-") == hamming_sites(text, revcomp_iupac(consensus), k)
    # AGGAGG with 1 mismatch: 1 + 6 * 3 = 19 of 4,096 words, about 93 per strand
    assert 60 < len(hamming_sites(text, "AGGAGG", 1)) < 130


def test_pwm_threshold_matches_log_odds_by_hand():
    pwm = [[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7], [0.25, 0.25, 0.25, 0.25], [0, 0, 1, 0]]
    rng = np.random.default_rng(5)
    text = "".join(rng.choice(list("ACGT"), size=5_000))
    genome = Genome.from_sequences({"c": text})

    def log_odds(row, base):  # pseudocount 0.01, uniform background, bits
        p = (row["ACGT".index(base)] + 0.01) / (sum(row) + 0.04)
        return np.log2(p / 0.25)

    def score(word):
        return sum(log_odds(row, base) for row, base in zip(pwm, word, strict=True))

    for threshold in (2.0, 4.5):
        parts = motif_parts(concept(pwm=pwm, threshold=threshold), genome)
        words = [text[i : i + 4] for i in range(len(text) - 3)]
        plus = [i for i, w in enumerate(words) if score(w) >= threshold]
        minus = [i for i, w in enumerate(words) if score(revcomp(w)) >= threshold]
        assert starts(parts, "+") == plus and starts(parts, "-") == minus
        assert plus  # the thresholds are reachable: best score log2(.71/.26)*2+log2(1.01/.26)
    best = motif_parts(concept(pwm=pwm, threshold=4.8), genome)
    assert {text[s : s + 4][:2] + text[s + 3] for s in starts(best, "+")} == {"ATG"}


def test_motif_spec_matrix_of_a_consensus():
    np.testing.assert_allclose(
        MotifSpec(consensus="ARN").matrix(),
        [[1, 0, 0, 0], [0.5, 0, 0.5, 0], [0.25, 0.25, 0.25, 0.25]],
    )


# -- within ------------------------------------------------------------------------------


def test_within_keeps_sites_inside_region_on_the_same_strand():
    sites = pd.DataFrame(
        {
            "Chromosome": ["c", "c", "c", "c", "d", "c"],
            "Start": [2, 8, 8, 18, 2, 30],
            "End": [6, 12, 12, 22, 6, 34],
            "Strand": ["+", "+", "-", "-", "+", "."],
            "Element": ["in", "wrong_strand", "in_minus", "overhangs", "other_contig", "dot"],
        }
    )
    region = pd.DataFrame(
        {
            "Chromosome": ["c", "c", "c", "c"],
            "Start": [0, 7, 12, 28],
            "End": [6, 12, 20, 40],
            "Strand": ["+", "-", "-", "+"],
            "Element": ["r1", "r2", "r3", "r4"],
        }
    )
    kept = within(sites, region)["Element"].tolist()
    # r2 and r3 touch: 8..12 lies in their union; 18..22 passes its end (20)
    assert kept == ["in", "in_minus", "dot"]
    unstranded_region = region.assign(Strand=".")
    assert within(sites, unstranded_region)["Element"].tolist() == [
        "in",
        "wrong_strand",
        "in_minus",
        "dot",
    ]
    assert within(sites, region.iloc[:0]).empty


def test_within_needs_every_part_of_a_wrapped_site():
    genome = Genome.from_sequences({"c": "TCAAAAAAGA"}, circular=["c"])
    parts = motif_parts(concept(consensus="GATC"), genome)
    region = pd.DataFrame(
        {"Chromosome": ["c"], "Start": [6], "End": [10], "Strand": ["."], "Element": ["r"]}
    )
    assert within(parts, region).empty
    both_ends = pd.concat([region, region.assign(Start=0, End=3)])
    assert len(within(parts, both_ends)) == 4


# -- real E. coli ------------------------------------------------------------------------


@pytest.mark.realdata
def test_chi_and_gatc_on_ecoli_match_plain_string_search(ecoli_genome):
    _, genome, seq = ecoli_genome
    catalog = load_catalog("annotations/bacterial_motifs.yaml")
    chi = motif_parts(catalog["chi_site"], genome)
    assert starts(chi, "+") == occurrences(seq, "GCTGGTGG")
    assert starts(chi, "-") == occurrences(seq, revcomp("GCTGGTGG"))
    assert len(chi) == 1008  # 499 + 509 (Blattner et al. 1997 count 1,008)
    gatc = motif_parts(catalog["dam_site"], genome)
    assert starts(gatc, "+") == starts(gatc, "-") == occurrences(seq, "GATC")
    assert len(occurrences(seq, "GATC")) == 19_124


@pytest.mark.realdata
def test_within_on_ecoli_regions(ecoli_genome):
    dataset, genome, seq = ecoli_genome
    table = dataset.annotation_table(genome)
    catalog = load_catalog("prokaryote")
    motifs = load_catalog("annotations/bacterial_motifs.yaml")
    upstream = derive(catalog["gene_upstream"], table, genome.lengths, genome.circular)
    sd = motif_parts(motifs["shine_dalgarno"], genome)
    kept = within(sd, upstream)
    assert 0 < len(kept) < len(sd)
    # independent check: each kept site sits wholly in a same-strand upstream window,
    # and a site that does is kept (brute force over a sample)
    windows = {
        strand: list(zip(group["Start"], group["End"], strict=True))
        for strand, group in upstream.groupby("Strand")
    }

    def inside(row):
        return any(s <= row.Start and row.End <= e for s, e in windows[row.Strand])

    sample = sd.sample(400, random_state=0)
    expected = {row.Element for row in sample.itertuples() if inside(row)}
    assert expected == set(kept["Element"]) & set(sample["Element"])
    assert expected  # the sample holds kept sites
    # SD sites are enriched upstream of genes: upstream windows cover ~2% of each strand
    per_nt_in = len(kept) / (upstream["End"] - upstream["Start"]).sum()
    per_nt_all = len(sd) / (2 * len(seq))
    assert per_nt_in > 3 * per_nt_all
    promoter = derive(load_catalog("regulatory")["promoter"], table, genome.lengths, {})
    boxes = within(motif_parts(motifs["sigma70_minus10"], genome), promoter)
    assert len(boxes) > 0 and set(boxes["Strand"]) <= {"+", "-"}


@pytest.mark.realdata
def test_whole_catalog_scan_is_fast_on_ecoli(ecoli_genome, record_property):
    _, genome, _ = ecoli_genome
    catalog = load_catalog("annotations/bacterial_motifs.yaml")
    counts, began = {}, time.perf_counter()
    for spec in catalog.concepts:
        counts[spec.name] = len(motif_parts(spec, genome))
    seconds = time.perf_counter() - began
    record_property("scan_seconds", seconds)
    print(f"10 motifs on E. coli, both strands: {seconds:.1f} s; sites {counts}")
    assert seconds < 60  # about 10 s on one shared core
    assert counts["dam_site"] == 2 * 19_124 and counts["chi_site"] == 1008
    assert counts["neisseria_dus"] < 50 and counts["pasteurellaceae_uss"] < 50


@pytest.mark.realdata
def test_rep_consensus_lands_in_annotated_rep_regions(ecoli_genome):
    dataset, genome, _ = ecoli_genome
    table = dataset.annotation_table(genome)
    rep = derive(load_catalog("prokaryote")["rep_repeat"], table, genome.lengths, {})
    sites = motif_parts(load_catalog("annotations/bacterial_motifs.yaml")["rep_element"], genome)
    inside = within(sites.assign(Strand="."), rep.assign(Strand="."))
    assert len(sites) > 300
    assert len(inside) / len(sites) > 0.95


# -- catalog -----------------------------------------------------------------------------


def test_shipped_catalog_parses_and_cites_every_motif():
    catalog = load_catalog("annotations/bacterial_motifs.yaml")
    assert catalog.catalog == "bacterial_motifs"
    assert len(catalog.concepts) == 10
    for spec in catalog.concepts:
        assert spec.motif is not None and not spec.select and spec.group == "motifs"
        assert re.search(r"\(\d{4}\)", spec.motif.source), spec.name
    assert catalog["shine_dalgarno"].motif.within == "gene_upstream"
    assert catalog["sigma70_minus10"].motif.within == "promoter"
    assert catalog["chi_site"].motif.consensus == "GCTGGTGG"


BAD = [
    ("consensus: GCTXGG", "line 6.*'X' at position 4, not an IUPAC DNA letter"),
    ("pwm: [[0.5, 0.5, 0, 0], [1, 1, 0, 0]]\n      threshold: 1", "pwm row 2 sums to 2"),
    ("pwm: [[0.5, 0.5, 0, 0]]", "a pwm needs 'threshold'"),
    ("pwm: [[0.5, 0.5, 0, 0], [1, 0, 0]]\n      threshold: 1", "rows of 4"),
    ("pwm: [[1, 0, 0, 0]]\n      threshold: 5", "above the pwm's best score"),
    ("consensus: GATC\n      threshold: 3", "'threshold' is for a pwm"),
    ("consensus: GATC\n      max_mismatches: 4", "max_mismatches 4 must be 0 to 3"),
    ("consensus: GATC\n      pwm: [[1, 0, 0, 0]]", "either 'consensus' or 'pwm'"),
]


@pytest.mark.parametrize(("motif", "problem"), BAD)
def test_bad_motif_specs_name_file_line_and_problem(tmp_path, motif, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(
        f"catalog: bad\nconcepts:\n  - name: m\n    label: m\n    motif:\n      {motif}\n"
    )
    with pytest.raises(ConfigError, match=rf"bad\.yaml.*{problem}") as info:
        load_catalog(path)
    assert "\n" not in str(info.value)


def test_within_naming_a_missing_concept_is_a_clear_error(tmp_path):
    import genointerp as gi

    path = tmp_path / "motifs.yaml"
    path.write_text(
        "catalog: motifs\nconcepts:\n  - name: sd\n    label: sd\n    motif:\n"
        "      consensus: AGGAGG\n      within: gene_upstream\n"
    )
    genome = Genome.from_sequences({"c": "AGGAGG" * 4})
    with pytest.raises(ValueError, match="within 'gene_upstream', which catalog 'motifs' lacks"):
        gi.concepts.build(genome, path, [])


def test_all_strand_pairs_of_iupac_letters_complement():
    # the reverse-strand scan uses the reversed, complemented matrix: check on every
    # 2-letter consensus that a '-' site is where the '+' sequence reads its complement
    letters = "ACGTRYWSKMBDHVN"
    text = "".join("".join(p) for p in itertools.product("ACGT", repeat=2))
    genome = Genome.from_sequences({"c": text})
    complement = dict(zip("ACGTRYWSKMBDHVN", "TGCAYRWSMKVHDBN", strict=True))
    with pytest.raises(ValueError, match="non-N letters"):
        MotifSpec(consensus="NN")  # matches everywhere: refused
    for a, b in itertools.product(letters, repeat=2):
        if a + b == "NN":
            continue
        parts = motif_parts(concept(consensus=a + b), genome)
        rc = complement[b] + complement[a]
        expected = [
            i
            for i in range(len(text) - 1)
            if text[i] in IUPAC[rc[0]] and text[i + 1] in IUPAC[rc[1]]
        ]
        assert starts(parts, "-") == expected, a + b
