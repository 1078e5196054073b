"""Concept derivation: hand-computed cases, file round trips, and the biology on real genomes."""

from __future__ import annotations

import collections

import numpy as np
import pandas as pd
import pytest

import genointerp as gi
from genointerp import names
from genointerp.concepts import Catalog, ConceptSpec, Select, Step
from tests.conftest import DATA

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def positions(tracks, concept, strand, contig="chrT"):
    mask = tracks.mask(contig, strand, concepts=[concept])[0]
    return set(np.flatnonzero(mask).tolist())


def intervals(tracks, concept):
    parts = tracks.parts(concept)
    return sorted(zip(parts[names.START], parts[names.END], parts[names.STRAND], strict=True))


@pytest.fixture
def tiny(tiny_gff3, tmp_path):
    genome = gi.io.Genome.open(tiny_gff3, cache_dir=tmp_path)
    return genome, gi.concepts.build(genome, "eukaryote", [tiny_gff3])


def test_exons_introns_and_splice_sites_follow_the_gene_models(tiny):
    _, tracks = tiny
    # exons shared by isoforms t1 and t2 (Parent=t1,t2) count once
    assert intervals(tracks, "exon") == [
        (2, 12, "+"),
        (20, 30, "+"),
        (40, 50, "+"),
        (60, 70, "-"),
        (80, 95, "-"),
    ]
    assert intervals(tracks, "intron") == [
        (12, 20, "+"),
        (12, 40, "+"),
        (30, 40, "+"),
        (70, 80, "-"),
    ]
    # donor: last exon nt + first two intron nt; on '-' the intron starts at its high end
    assert intervals(tracks, "splice_donor") == [(11, 14, "+"), (29, 32, "+"), (78, 81, "-")]
    # acceptor: last two intron nt + first exon nt
    assert intervals(tracks, "splice_acceptor") == [(18, 21, "+"), (38, 41, "+"), (69, 72, "-")]


def test_start_and_stop_codons_are_taken_in_spliced_coordinates(tiny):
    _, tracks = tiny
    assert intervals(tracks, "start_codon") == [(5, 8, "+"), (87, 90, "-")]
    assert intervals(tracks, "stop_codon") == [(42, 45, "+"), (62, 65, "-")]
    assert tracks.elements("cds").set_index(names.ELEMENT)["n_parts"].to_dict() == {
        "t1": 3,
        "t3": 2,
    }


def test_codon_positions_follow_phase_across_exons(tiny):
    _, tracks = tiny
    # t1 (+): CDS parts [5,12) [20,30) [40,45), phase 0 on the first part
    assert positions(tracks, "codon_pos1", "+") == {5, 8, 11, 22, 25, 28, 41, 44}
    assert positions(tracks, "codon_pos2", "+") == {6, 9, 20, 23, 26, 29, 42}
    assert positions(tracks, "codon_pos3", "+") == {7, 10, 21, 24, 27, 40, 43}
    # t3 (-): parts read 5'->3' as [80,90) then [62,70)
    assert positions(tracks, "codon_pos1", "-") == {89, 86, 83, 80, 67, 64}
    cds = positions(tracks, "cds", "+") | positions(tracks, "cds", "-")
    by_codon = [positions(tracks, f"codon_pos{i}", s) for i in (1, 2, 3) for s in "+-"]
    assert set().union(*by_codon) == cds
    assert sum(map(len, by_codon)) == len(cds)  # the three positions partition the CDS


def test_unstranded_concepts_count_on_both_strands(tiny):
    _, tracks = tiny
    gaps = {(0, 2), (50, 60)}
    assert {(s, e) for s, e, _ in intervals(tracks, "intergenic")} == gaps
    assert (
        positions(tracks, "intergenic", "+")
        == positions(tracks, "intergenic", "-")
        == {0, 1, *range(50, 60)}
    )


def _flank_catalog(start, end, anchor="5prime"):
    spec = ConceptSpec(
        "up",
        "upstream",
        [Select(feature=["CDS"])],
        steps=[Step("flank", anchor=anchor, start=start, end=end)],
    )
    return Catalog("test", concepts=[spec])


def test_flanks_wrap_around_a_circular_origin_and_clip_on_linear_contigs():
    table = gi.io.annotation_table(DATA / "tiny.gb")
    linear = gi.io.Genome.from_sequences({"TINY01.1": "ACGT" * 15})
    circular = gi.io.Genome.from_sequences({"TINY01.1": "ACGT" * 15}, circular=["TINY01.1"])
    table[names.CHROM] = "TINY01.1"
    plus_cds = table[(table[names.FEATURE] == "CDS") & (table[names.STRAND] == "+")]
    # the '+' CDS starts at 3: ten nt upstream runs past the origin
    for genome, expected in ((linear, [(0, 3, "+")]), (circular, [(0, 3, "+"), (53, 60, "+")])):
        tracks = gi.concepts.build(genome, _flank_catalog(-10, 0), plus_cds)
        assert intervals(tracks, "up") == expected
    # downstream of the '-' strand CDS (parts 20..26 and 30..36): 3' end is its lowest position
    tracks = gi.concepts.build(linear, _flank_catalog(0, 4, "3prime"), table[table.Strand == "-"])
    assert intervals(tracks, "up") == [(16, 20, "-")]


def test_merge_and_regex_selection():
    table = pd.DataFrame(
        {
            names.CHROM: "c",
            names.START: [0, 5, 40, 100],
            names.END: [10, 20, 50, 110],
            names.STRAND: "+",
            names.FEATURE: "CDS",
            names.SOURCE: "s",
            names.SCORE: 0.0,
            names.PHASE: 0,
            names.ID: ["a", "b", "c", "d"],
            names.NAME: "",
            names.PARENT: "",
            names.FILE: "f",
            names.LINE: [1, 2, 3, 4],
            "is_phage": ["", "", np.nan, ""],
        }
    )
    genome = gi.io.Genome.from_sequences({"c": "A" * 200})
    spec = ConceptSpec(
        "phage",
        "phage",
        [Select(feature=["CDS"], where={"is_phage": ""})],
        stranded=False,
        steps=[Step("merge", gap=80)],
    )
    tracks = gi.concepts.build(genome, Catalog("t", concepts=[spec]), table)
    # 'c' is not a phage gene, so 0..20 and 100..110 are 80 bp apart: merged into one element
    assert intervals(tracks, "phage") == [(0, 110, ".")]


def test_mask_matches_a_naive_reference(tiny):
    _, tracks = tiny
    for strand in "+-":
        mask = tracks.mask("chrT", strand, 7, 93)
        for row, concept in enumerate(tracks.concepts):
            naive = np.zeros(100, dtype=bool)
            for part in tracks.parts(concept).itertuples():
                if part.Strand in (strand, "."):
                    for p in range(part.Start, part.End):
                        naive[p] |= part.Frame < 0 or p % 3 == part.Frame
            np.testing.assert_array_equal(mask[row], naive[7:93], err_msg=concept)


def test_mask_refuses_unknown_concepts(tiny):
    _, tracks = tiny
    with pytest.raises(KeyError, match="no concept 'cdss'"):
        tracks.mask("chrT", "+", concepts=["cdss"])


def test_tracks_round_trip_through_hdf5_and_bed(tiny, tmp_path):
    genome, tracks = tiny
    out = tmp_path / "out"
    path = tracks.write(out / "tracks.h5")
    again = gi.concepts.ConceptTracks.read(path)
    assert again.concepts == tracks.concepts
    assert again.genome_checksum == genome.checksum
    pd.testing.assert_frame_equal(again.intervals, tracks.intervals, check_dtype=False)
    assert [p.name for p in out.iterdir()] == ["tracks.h5"]  # no temporary files left

    beds = tracks.to_bed(out / "bed", ["splice_donor", "codon_pos1"])
    donor = beds[0].read_text().splitlines()
    assert donor[0].split("\t")[:6] == ["chrT", "11", "14", "t1:intron1", "0", "+"]
    # codon positions: BED12 whose 1-nt blocks are exactly the mask's positions
    blocks = set()
    for line in beds[1].read_text().splitlines():
        f = line.split("\t")
        if f[5] == "+":
            blocks |= {int(f[1]) + int(b) for b in f[11].split(",")}
    assert blocks == positions(tracks, "codon_pos1", "+")


def test_catalog_yaml_rejects_unknown_keys_with_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("catalog: x\nconcepts:\n  - name: a\n    label: A\n    selct: []\n")
    with pytest.raises(
        gi.errors.ConfigError,
        match=r"bad.yaml, line 5: unknown key 'selct'.*"
        r"did you mean 'select'",
    ):
        gi.concepts.load_catalog(path)


@pytest.mark.parametrize("catalog", ["prokaryote", "eukaryote", "regulatory"])
def test_builtin_catalogs_load(catalog):
    loaded = gi.concepts.load_catalog(catalog)
    assert len(loaded.concepts) >= 3
    assert len(set(loaded.names)) == len(loaded.names)


# -- real genomes (mirror) ----------------------------------------------------------------


def spelled(genome, parts: pd.DataFrame) -> collections.Counter:
    """What each element spells on its own strand, 5' to 3'."""
    counts = collections.Counter()
    for _, element in parts.groupby(names.ELEMENT):
        element = element.sort_values(names.START)
        seq = "".join(genome.fetch(r.Chromosome, r.Start, r.End) for r in element.itertuples())
        counts[revcomp(seq) if element[names.STRAND].iloc[0] == "-" else seq] += 1
    return counts


def test_ecoli_trna_and_rrna_counts(ecoli):
    _, tracks = ecoli
    assert len(tracks.elements("trna")) == 86
    assert len(tracks.elements("rrna")) == 22
    assert [len(tracks.elements(c)) for c in ("rrna_16s", "rrna_23s", "rrna_5s")] == [7, 7, 8]


def test_ecoli_start_and_stop_codons_spell_real_codons(ecoli):
    genome, tracks = ecoli
    starts = spelled(genome, tracks.parts("cds_start_codon"))
    stops = spelled(genome, tracks.parts("cds_stop_codon"))
    assert sum(starts[c] for c in ("ATG", "GTG", "TTG")) / sum(starts.values()) >= 0.99
    assert sum(stops[c] for c in ("TAA", "TAG", "TGA")) / sum(stops.values()) >= 0.999
    assert sum(starts.values()) > 4200


def _stop_triplets(genome, tracks, concept, strand) -> int:
    """In-frame stop codons read from the positions of ``concept`` taken as codon starts."""
    contig = genome.names[0]
    seq = np.frombuffer(genome.fetch(contig).encode(), dtype=np.uint8)
    pos = np.flatnonzero(tracks.mask(contig, strand, concepts=[concept])[0])
    if strand == "+":
        pos = pos[pos + 2 < len(seq)]
        codons = np.stack([seq[pos], seq[pos + 1], seq[pos + 2]], axis=1)
    else:  # the codon's first base is the highest coordinate: read the reverse complement
        pos = pos[pos >= 2]
        comp = np.frombuffer(bytes.maketrans(b"ACGTN", b"TGCAN"), dtype=np.uint8)
        codons = comp[np.stack([seq[pos], seq[pos - 1], seq[pos - 2]], axis=1)]
    words = codons.view("S3").ravel()
    return int(np.isin(words, [b"TAA", b"TAG", b"TGA"]).sum())


@pytest.mark.parametrize("strand", ["+", "-"])
def test_ecoli_codon_phase_tracks_agree_with_cds_frames(ecoli, strand):
    genome, tracks = ecoli
    cds = tracks.elements("cds")
    n_cds = int((cds[names.STRAND] == strand).sum())
    in_frame = _stop_triplets(genome, tracks, "codon_pos1", strand)
    # In frame, stops occur (almost) only at the end of each CDS; shifted frames hit many.
    assert n_cds * 0.97 <= in_frame <= n_cds + 15
    for shifted in ("codon_pos2", "codon_pos3"):
        assert _stop_triplets(genome, tracks, shifted, strand) > 5 * n_cds


@pytest.mark.parametrize("dataset", ["arabidopsis_thaliana_1pct", "caenorhabditis_elegans_1pct"])
def test_eukaryote_splice_sites_are_gt_ag(mirror, dataset):
    genome = gi.datasets.load(dataset).genome()
    tracks = gi.concepts.build(dataset, concepts=["splice_donor", "splice_acceptor"])
    donors = spelled(genome, tracks.parts("splice_donor"))
    acceptors = spelled(genome, tracks.parts("splice_acceptor"))
    assert sum(donors.values()) > 900 and sum(acceptors.values()) > 900
    assert sum(n for s, n in donors.items() if s[1:] == "GT") / sum(donors.values()) >= 0.98
    assert sum(n for s, n in acceptors.items() if s[:2] == "AG") / sum(acceptors.values()) >= 0.98


def test_catalog_include_is_relative_and_duplicates_are_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base.yaml").write_text(
        "catalog: base\nconcepts:\n  - {name: trna, label: t, select: [{feature: [tRNA]}]}\n"
    )
    top = tmp_path / "sub" / "top.yaml"
    top.write_text(
        "catalog: top\ninclude: [base.yaml]\nconcepts:\n"
        "  - {name: rrna, label: r, select: [{feature: [rRNA]}]}\n"
    )
    assert gi.concepts.load_catalog(top).names == ["trna", "rrna"]
    top.write_text("catalog: top\ninclude: [base.yaml, prokaryote]\nconcepts: []\n")
    with pytest.raises(gi.errors.ConfigError, match="concept 'trna' is defined twice"):
        gi.concepts.load_catalog(top)


def test_element_row_makes_one_element_per_genbank_feature():
    table = gi.io.annotation_table(DATA / "tiny.gb")
    spec = ConceptSpec("any", "any", [Select(feature=["CDS", "tRNA"])], element="row")
    genome = gi.io.Genome.from_sequences({"TINY01.1": "ACGT" * 15})
    tracks = gi.concepts.build(genome, Catalog("t", concepts=[spec]), table)
    assert len(tracks.elements("any")) == 3  # two CDS and the origin-spanning tRNA


def test_element_ids_index_the_element_table_and_cover_the_mask(tiny):
    _, tracks = tiny
    for concept in ("exon", "intron", "codon_pos1"):
        elements = tracks.elements(concept)
        for strand in "+-":
            ids = tracks.element_ids(concept, "chrT", strand)
            mask = tracks.mask("chrT", strand, concepts=[concept])[0]
            np.testing.assert_array_equal(ids >= 0, mask)
            for pos in np.flatnonzero(mask):
                element = elements.iloc[ids[pos]]
                assert element[names.START] <= pos < element[names.END]
                assert element[names.STRAND] in (strand, ".")
    # introns on '+' (element order): t1:intron1 [12,20), t2:intron1 [12,40), t1:intron2 [30,40);
    # where they overlap, the part later in (start, end) order wins
    assert tracks.element_ids("intron", "chrT", "+", 18, 34).tolist() == [1] * 12 + [2] * 4
