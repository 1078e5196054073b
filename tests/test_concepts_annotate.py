"""Concept tracks from sequence annotators and motif scans, through ``gi.concepts.build``,
the CLI and the pipeline config, on the first 400 kb of E. coli K-12."""

from __future__ import annotations

import logging
import re

import pytest

import genointerp as gi
from genointerp import names
from genointerp.cli import main
from genointerp.pipeline import load_config

SLICE = 400_000
CONTIG = "NC_000913.3"

CATALOG = """
catalog: slice_test
concepts:
  - name: cds
    label: CDS
    select: [{feature: [CDS]}]
  - name: trna
    label: tRNA
    select: [{feature: [tRNA]}]
  - name: rbs
    label: Prodigal RBS
    annotators: [prodigal]
    select: [{feature: [Shine_Dalgarno_sequence]}]
  - name: gene_upstream
    label: 20 nt upstream
    select: [{feature: [CDS], origin: [curated]}]
    steps: [{op: flank, anchor: 5prime, start: -20, end: 0}]
  - name: sd_core
    label: GGAGG upstream
    motif: {consensus: GGAGG, within: gene_upstream}
"""


@pytest.fixture(scope="module")
def ecoli_slice(mirror):
    """(genome, curated rows) of the first 400 kb (rows wholly inside it)."""
    dataset = gi.datasets.load("ecoli_k12")
    whole = dataset.genome()
    rows = dataset.annotation_table(whole)
    rows = rows[(rows[names.CHROM] == CONTIG) & (rows[names.END] <= SLICE)]
    genome = gi.io.Genome.from_sequences({CONTIG: whole.fetch(CONTIG, 0, SLICE)})
    return genome, rows.reset_index(drop=True)


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "slice_test.yaml"
    path.write_text(CATALOG)
    return path


def test_a_named_annotator_feeds_only_its_concept(ecoli_slice, catalog):
    genome, rows = ecoli_slice
    tracks = gi.concepts.build(genome, catalog, rows, concepts=["cds", "rbs"])
    curated_cds = rows.loc[rows[names.FEATURE] == "CDS", names.ID].nunique()
    assert tracks.elements("cds").shape[0] == curated_cds  # prodigal's CDSs stay out
    sd = gi.annotate.annotate(genome, ["prodigal"])
    sd = sd[sd[names.FEATURE] == "Shine_Dalgarno_sequence"]
    assert len(sd) > 100
    assert tracks.elements("rbs").shape[0] == len(sd)


def test_annotators_alone_find_the_curated_trnas(ecoli_slice, catalog):
    genome, rows = ecoli_slice
    tracks = gi.concepts.build(genome, catalog, [], concepts=["trna"], annotate=["aragorn"])
    found = tracks.elements("trna")
    curated = rows[rows[names.FEATURE] == "tRNA"]
    assert len(curated) >= 5
    hits = sum(
        (
            (found["Start"] == r.Start) & (found["End"] == r.End) & (found["Strand"] == r.Strand)
        ).any()
        for r in curated.itertuples()
    )
    assert hits >= 0.9 * len(curated)
    assert len(found) <= len(curated) + 3


def test_motif_sites_lie_within_their_region(ecoli_slice, catalog):
    genome, rows = ecoli_slice
    tracks = gi.concepts.build(genome, catalog, rows, concepts=["sd_core"])
    sites = tracks.elements("sd_core")
    region = gi.concepts.build(genome, catalog, rows, concepts=["gene_upstream"])
    mask = {s: region.mask(CONTIG, s, 0, SLICE, ["gene_upstream"])[0] for s in "+-"}
    # independent count: GGAGG read on the region's strand, wholly inside one upstream window
    seq = genome.fetch(CONTIG)
    expected = 0
    for up in region.elements("gene_upstream").itertuples():
        window = seq[up.Start : up.End]
        if up.Strand == "-":
            window = window[::-1].translate(str.maketrans("ACGT", "TGCA"))
        expected += len(re.findall("(?=GGAGG)", window))
    assert len(sites) == pytest.approx(expected, rel=0.05)  # overlapping windows count once
    for site in sites.itertuples():
        assert mask[site.Strand][site.Start : site.End].all()
    assert len(sites) > 20  # 29 exact GGAGG in the slice's upstream windows


def test_unknown_annotator_is_named(ecoli_slice, catalog):
    genome, rows = ecoli_slice
    with pytest.raises(ValueError, match="unknown annotator.*glimmer"):
        gi.concepts.build(genome, catalog, rows, concepts=["cds"], annotate=["glimmer"])


def test_a_missing_program_empties_only_the_concepts_that_name_it(
    ecoli_slice, tmp_path, monkeypatch, caplog
):
    genome, rows = ecoli_slice
    path = tmp_path / "term.yaml"
    path.write_text(
        "catalog: t\nconcepts:\n"
        "  - {name: cds, label: CDS, select: [{feature: [CDS]}]}\n"
        "  - {name: terminator, label: terminator, annotators: [transtermhp],\n"
        "     select: [{feature: [terminator]}]}\n"
    )
    monkeypatch.setenv("PATH", str(tmp_path))  # no transterm on the PATH
    with caplog.at_level(logging.WARNING):
        tracks = gi.concepts.build(genome, path, rows)
    assert tracks.elements("terminator").empty
    assert not tracks.elements("cds").empty
    assert re.search(r"transtermhp.*apt-get install transtermhp", caplog.text)
    with pytest.raises(gi.errors.GenointerpError, match="transtermhp"):
        gi.concepts.build(genome, path, rows, annotate=["transtermhp"])


def test_cli_builds_a_genome_with_no_annotation_file(ecoli_slice, tmp_path, capsys):
    genome, _ = ecoli_slice
    fasta = tmp_path / "slice.fa"
    fasta.write_text(f">{CONTIG}\n{genome.fetch(CONTIG)}\n")
    out = tmp_path / "concepts.h5"
    code = main(
        [
            "concepts",
            "build",
            "--genome",
            str(fasta),
            "--catalog",
            "prokaryote",
            "--annotate",
            "aragorn,barrnap",
            "--concepts",
            "trna,rrna_16s,rrna_23s,rrna_5s",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    summary = gi.concepts.ConceptTracks.read(out).summary().set_index("concept")["elements"]
    assert summary["trna"] >= 5
    # the slice holds one rRNA operon (rrnH): one 16S, one 23S, one 5S
    assert (summary[["rrna_16s", "rrna_23s", "rrna_5s"]].to_numpy() == 1).all()
    with pytest.raises(SystemExit, match="--annotations, --annotate or both"):
        main(["concepts", "build", "--genome", str(fasta), "--catalog", "prokaryote", "-o", "x"])


def test_pipeline_genome_may_have_annotators_instead_of_files(tmp_path):
    fasta = tmp_path / "g.fa"
    fasta.write_text(">c\n" + "ACGT" * 100 + "\n")
    config = tmp_path / "run.yaml"
    config.write_text(
        "genomes:\n  - {sequence: g.fa, catalog: prokaryote, annotate: [all]}\noutput: out\n"
    )
    loaded = load_config(config)
    assert loaded.genomes[0].annotate == ["all"]
    config.write_text(
        "genomes:\n  - {sequence: g.fa, catalog: prokaryote, annotate: [genemark]}\noutput: out\n"
    )
    with pytest.raises(gi.errors.ConfigError, match="unknown annotator.*genemark"):
        load_config(config)
    config.write_text("genomes:\n  - {sequence: g.fa, catalog: prokaryote}\noutput: out\n")
    with pytest.raises(gi.errors.ConfigError, match="annotate"):
        load_config(config)


def test_annotator_rows_reach_every_concept_when_asked(ecoli_slice, catalog):
    genome, rows = ecoli_slice
    both = gi.concepts.build(genome, catalog, rows, concepts=["cds"], annotate=["prodigal"])
    curated = gi.concepts.build(genome, catalog, rows, concepts=["cds"])
    # identical intervals count once: Prodigal adds its calls that differ (373 -> 428 here)
    n_both, n_curated = len(both.elements("cds")), len(curated.elements("cds"))
    assert n_curated + 20 < n_both < 1.5 * n_curated
