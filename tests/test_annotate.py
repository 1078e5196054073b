"""gi.annotate on real E. coli K-12: agreement with the curated annotation, caching, bad input.

The whole genome runs once (prodigal, aragorn, barrnap, pilercr: ~40 s); TransTermHP,
determinism and the translation-table choice use a 350 kb slice through
``Genome.from_sequences``.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
import pytest
from Bio.Seq import reverse_complement

from genointerp import names
from genointerp.annotate import ANNOTATORS, AnnotatorUnavailableError, annotate, versions
from genointerp.datasets import load
from genointerp.errors import GenomeFormatError
from genointerp.io import Genome
from tests.conftest import require_program

CONTIG = "NC_000913.3"
SLICE = (2_600_000, 2_950_000)  # holds the rrnG operon, ssrA, tRNAs and both CRISPR arrays
STOPS = {"TAA", "TAG", "TGA"}


@pytest.fixture(scope="module")
def ecoli_k12(mirror):
    dataset = load("ecoli_k12")
    genome = dataset.genome()
    return genome, dataset.annotation_table(genome)


@pytest.fixture(scope="module")
def whole(ecoli_k12):
    """The four fast annotators on the whole genome, run once."""
    require_program("pilercr", "pilercr")
    genome, _ = ecoli_k12
    tools = ["prodigal", "aragorn", "barrnap", "pilercr"]
    return annotate(genome, tools)  # the session's cache: later E. coli builds reuse it


@pytest.fixture(scope="module")
def piece(ecoli_k12):
    """A 350 kb slice as its own genome, with the curated rows that lie inside it."""
    genome, curated = ecoli_k12
    start, end = SLICE
    sliced = Genome.from_sequences({CONTIG: genome.fetch(CONTIG, start, end)})
    inside = curated[(curated[names.START] >= start) & (curated[names.END] <= end)].copy()
    inside[names.START] -= start
    inside[names.END] -= start
    return sliced, inside


@pytest.fixture(scope="module")
def piece_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("annotate-piece")


def _found(of: pd.DataFrame, among: pd.DataFrame, *, stranded: bool = True) -> int:
    """How many rows of ``of`` overlap a row of ``among`` (on the same strand)."""
    n = 0
    for row in of.itertuples():
        hit = among[(among[names.START] < row.End) & (among[names.END] > row.Start)]
        if stranded:
            hit = hit[hit[names.STRAND] == row.Strand]
        n += len(hit) > 0
    return n


def _gene_ends(cds: pd.DataFrame) -> tuple[set, set]:
    """(strand, start codon position) and (strand, stop end) of each CDS, segments joined."""
    genes = cds.groupby(names.ID).agg(
        Start=(names.START, "min"), End=(names.END, "max"), Strand=(names.STRAND, "first")
    )
    plus = genes.Strand == "+"
    starts = set(zip(genes.Strand, np.where(plus, genes.Start, genes.End), strict=True))
    stops = set(zip(genes.Strand, np.where(plus, genes.End, genes.Start), strict=True))
    return starts, stops


def _on_strand(genome: Genome, start: int, end: int, strand: str) -> str:
    seq = genome.fetch(CONTIG, start, end)
    return seq if strand == "+" else reverse_complement(seq)


def test_trna_and_tmrna_match_the_curated_86(ecoli_k12, whole):
    _, curated = ecoli_k12
    trna = whole[whole[names.FEATURE] == "tRNA"]
    truth = curated[curated[names.FEATURE] == "tRNA"]
    assert len(truth) == 86
    assert _found(truth, trna) == 86  # every curated tRNA gene is found
    assert len(trna) - _found(trna, truth) == 2  # ARAGORN's two extra calls
    assert trna["product"].str.fullmatch(r"tRNA-\w+").all()
    assert set(trna[names.ANNOTATOR]) == {"aragorn"}
    tmrna = whole[whole[names.FEATURE] == "tmRNA"]
    ssra = curated[curated.get("gene") == "ssrA"]
    assert len(tmrna) == 1 and _found(tmrna, ssra) == 1


def test_rrna_match_the_curated_22(ecoli_k12, whole):
    _, curated = ecoli_k12
    rrna = whole[whole[names.FEATURE] == "rRNA"]
    truth = curated[curated[names.FEATURE] == "rRNA"]
    assert len(truth) == len(rrna) == 22
    assert _found(truth, rrna) == 22
    assert rrna["product"].value_counts().to_dict() == {
        "5S ribosomal RNA": 8,
        "16S ribosomal RNA": 7,
        "23S ribosomal RNA": 7,
    }


def test_prodigal_starts_and_stops_against_curated_cds(ecoli_k12, whole):
    genome, curated = ecoli_k12
    cds = whole[whole[names.FEATURE] == "CDS"]
    starts, stops = _gene_ends(curated[curated[names.FEATURE] == "CDS"])
    found_starts, found_stops = _gene_ends(cds)
    assert len(stops) == 4305
    assert len(stops & found_stops) / len(stops) > 0.95  # measured 4129 (95.9%)
    assert len(starts & found_starts) / len(starts) > 0.88  # measured 3903 (90.7%)
    # CDS rows include the stop codon, as NCBI's do
    complete = cds[cds["stop_codon"].notna()]
    for row in complete.sample(300, random_state=0).itertuples():
        end = (row.End - 3, row.End) if row.Strand == "+" else (row.Start, row.Start + 3)
        assert _on_strand(genome, *end, row.Strand) in STOPS
    assert set(complete["transl_table"]) == {"11"}


def test_shine_dalgarno_sites_sit_upstream_of_their_start(ecoli_k12, whole):
    genome, _ = ecoli_k12
    sd = whole[whole[names.FEATURE] == "Shine_Dalgarno_sequence"]
    cds = whole[whole[names.FEATURE] == "CDS"].set_index(names.ID)
    reported = cds["rbs_motif"].notna() & ~cds["rbs_motif"].fillna("").str.contains("Base")
    assert len(sd) == reported.sum() > 3500  # every placeable motif found in its window
    for row in sd.sample(300, random_state=0).itertuples():
        gene = cds.loc[row.Parent]
        assert row.Strand == gene.Strand
        assert _on_strand(genome, row.Start, row.End, row.Strand) == row.sequence
        gap = gene.Start - row.End if row.Strand == "+" else row.Start - gene.End
        low, high = map(int, gene.rbs_spacer.removesuffix("bp").split("-"))
        assert gap == int(row.spacer) and low <= gap <= high


def test_crispr_arrays_match_the_two_curated(ecoli_k12, whole):
    _, curated = ecoli_k12
    arrays = whole[whole[names.FEATURE] == "CRISPR"]
    truth = curated[curated[names.FEATURE] == "CRISPR"]
    assert len(truth) == len(arrays) == 2
    assert _found(truth, arrays, stranded=False) == 2
    assert arrays[names.ID].str.contains("CRISPR").all()
    parts = whole[whole[names.FEATURE].isin(["direct_repeat", "CRISPR_spacer"])]
    assert set(parts[names.PARENT]) == set(arrays[names.ID])
    repeats = parts[parts[names.FEATURE] == "direct_repeat"]
    assert len(repeats) == 17 and set(repeats[names.END] - repeats[names.START]) == {28, 29}
    for array in arrays.itertuples():
        mine = parts[parts[names.PARENT] == array.ID]
        assert mine[names.START].min() == array.Start and mine[names.END].max() == array.End


def test_terminators_follow_genes(piece, piece_cache):
    require_program("transterm", "transtermhp")
    genome, curated = piece
    terms = annotate(genome, ["transtermhp"], cache_dir=piece_cache)
    assert len(terms) > 100 and (terms[names.SCORE] >= 76).all()
    cds = curated[curated[names.FEATURE] == "CDS"]
    coding = np.zeros(genome.lengths[CONTIG], dtype=bool)
    for row in cds.itertuples():
        coding[row.Start : row.End] = True
    middle = ((terms[names.START] + terms[names.END]) // 2).to_numpy()
    assert (~coding[middle]).mean() > 0.85 > 3 * (~coding).mean()  # E. coli: 95% vs 14%


def test_outputs_are_cached_and_deterministic(piece, piece_cache, tmp_path, caplog):
    require_program("transterm", "transtermhp")
    require_program("pilercr", "pilercr")
    genome, _ = piece
    first = annotate(genome, cache_dir=piece_cache, progress=True)
    files = sorted(piece_cache.rglob("*.gff3"))
    assert len(files) == len(ANNOTATORS)
    stamps = {f: (os.stat(f).st_ino, os.stat(f).st_mtime_ns) for f in files}
    with caplog.at_level(logging.INFO, logger="genointerp.annotate"):
        again = annotate(genome, cache_dir=piece_cache)
    assert not [r for r in caplog.records if "features written" in r.getMessage()]
    assert {f: (os.stat(f).st_ino, os.stat(f).st_mtime_ns) for f in files} == stamps
    pd.testing.assert_frame_equal(first, again)
    annotate(genome, cache_dir=tmp_path)  # a fresh run elsewhere writes the same bytes
    for f in files:
        assert (tmp_path / f.relative_to(piece_cache)).read_bytes() == f.read_bytes()
    assert set(first[names.ANNOTATOR]) == set(ANNOTATORS)
    header = files[0].read_text().splitlines()[:6]
    assert any(line.startswith("# tool: ") for line in header)
    assert any(line.startswith("# settings: ") for line in header)


def _recode_tryptophan(genome: Genome, curated: pd.DataFrame) -> Genome:
    """Every in-frame TGG of the curated single-segment CDSs becomes TGA on the coding strand."""
    seq = bytearray(genome.fetch(CONTIG).encode())
    cds = curated[curated[names.FEATURE] == "CDS"]
    cds = cds[~cds[names.ID].duplicated(keep=False)]
    n = 0
    for row in cds.itertuples():
        for at in range(row.Start, row.End - 2, 3) if row.Strand == "+" else ():
            if seq[at : at + 3] == b"TGG":
                seq[at : at + 3], n = b"TGA", n + 1
        for at in range(row.End - 3, row.Start - 1, -3) if row.Strand == "-" else ():
            if seq[at : at + 3] == b"CCA":  # TGG read on the minus strand
                seq[at : at + 3], n = b"TCA", n + 1
    assert n > 1000
    return Genome.from_sequences({CONTIG: seq.decode()})


def test_translation_table_auto_picks_4_when_tga_codes_for_trp(piece, tmp_path):
    genome, curated = piece
    recoded = _recode_tryptophan(genome, curated)
    table = annotate(recoded, ["prodigal", "aragorn"], cache_dir=tmp_path)
    assert set(table.loc[table[names.FEATURE] == "CDS", "transl_table"]) == {"4"}
    header = next((tmp_path).rglob("prodigal-*.gff3")).read_text()
    assert '"chosen": 4' in header
    assert "# translation_table: 4" in next(tmp_path.rglob("aragorn-*.gff3")).read_text()
    original = annotate(genome, ["prodigal"], cache_dir=tmp_path / "original")
    assert set(original.loc[original[names.FEATURE] == "CDS", "transl_table"]) == {"11"}
    forced = annotate(genome, ["prodigal"], translation_table=4, cache_dir=tmp_path / "forced")
    assert set(forced["transl_table"].dropna()) == {"4"}


def test_short_genome_uses_meta_mode(piece, tmp_path):
    genome, curated = piece
    short = Genome.from_sequences({"short": genome.fetch(CONTIG, 0, 50_000)})
    table = annotate(short, ["prodigal"], cache_dir=tmp_path)
    assert '"mode": "meta"' in next(tmp_path.rglob("prodigal-*.gff3")).read_text()
    truth = curated[(curated[names.FEATURE] == "CDS") & (curated[names.END] <= 50_000)]
    _, stops = _gene_ends(table[table[names.FEATURE] == "CDS"])
    _, true_stops = _gene_ends(truth)
    assert len(stops & true_stops) / len(true_stops) > 0.9


def test_missing_program_names_the_fix(piece, piece_cache, tmp_path, monkeypatch, caplog):
    genome, _ = piece
    monkeypatch.setenv("PATH", str(tmp_path))
    for tool, package in (("pilercr", "pilercr"), ("transtermhp", "transtermhp")):
        with pytest.raises(AnnotatorUnavailableError, match=f"apt-get install {package}"):
            annotate(genome, [tool], cache_dir=tmp_path)
    found = versions()
    assert found["pilercr"] is None and found["transtermhp"] is None
    assert found["prodigal"].startswith("pyrodigal ")
    with caplog.at_level(logging.WARNING, logger="genointerp.annotate"):
        table = annotate(genome, cache_dir=piece_cache)
    assert set(table[names.ANNOTATOR]) == {"prodigal", "aragorn", "barrnap"}
    assert "pilercr left out" in caplog.text


def test_bad_input_errors():
    with pytest.raises(GenomeFormatError, match="no sequence to annotate"):
        annotate(Genome([], np.zeros(0, dtype=np.uint8), {}))
    with pytest.raises(GenomeFormatError, match="no sequence to annotate"):
        annotate(Genome.from_sequences({"gap": "N" * 500}))
    tiny = Genome.from_sequences({"c": "ACGTTGCA" * 10})
    with pytest.raises(ValueError, match="unknown annotator"):
        annotate(tiny, ["glimmer"])
    with pytest.raises(ValueError, match="kingdom"):
        annotate(tiny, ["barrnap"], kingdom="euk")


def test_tiny_genome_gives_an_empty_table_with_the_standard_columns(tmp_path):
    tiny = Genome.from_sequences({"c": "ACGTTGCA" * 10})
    table = annotate(tiny, cache_dir=tmp_path)
    assert table.empty and list(table.columns[:13]) == list(names.ANNOTATION_COLUMNS)
